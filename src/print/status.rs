//! What a printer's attributes mean for a guest at the kiosk: one state
//! in words, whether a card can print now, and the supplies left.

use serde::Serialize;

/// The printer as the kiosk and the dashboard show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterState {
    Ready,
    Printing,
    /// Ready, with ink, ribbon or paper running low.
    SupplyLow,
    Stopped,
    OutOfPaper,
    Jammed,
    /// No answer at its address.
    Unreachable,
    /// Something answers there, but not as a printer.
    NotAPrinter,
    /// A printer that takes none of the formats the kiosk sends.
    NoFormat,
    /// No `printer_uri`.
    NotConfigured,
}

impl PrinterState {
    /// Whether a card sent now would print.
    pub fn can_print(self) -> bool {
        matches!(self, Self::Ready | Self::Printing | Self::SupplyLow)
    }

    /// The state in words, for staff and the kiosk's message.
    pub fn words(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Printing => "printing",
            Self::SupplyLow => "ready, but ink, ribbon or paper is running low",
            Self::Stopped => "stopped",
            Self::OutOfPaper => "out of paper",
            Self::Jammed => "jammed",
            Self::Unreachable => "not reachable",
            Self::NotAPrinter => "answering, but not as a printer (check printer_uri)",
            Self::NoFormat => "unable to take any format the kiosk sends",
            Self::NotConfigured => "not set up",
        }
    }
}

/// A supply the printer reports, 0-100 % (`None`: unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    pub name: String,
    pub level: Option<u8>,
}

/// A printer's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrinterStatus {
    pub state: PrinterState,
    /// `printer-state-reasons` without `none`.
    pub reasons: Vec<String>,
    /// The printer's own message, or the kiosk's when it got none.
    pub message: String,
    pub markers: Vec<Marker>,
    /// `document-format-supported`.
    pub formats: Vec<String>,
    /// `media-ready`: paper loaded now.
    pub media_ready: Vec<String>,
}

impl PrinterStatus {
    /// A printer the kiosk could not ask, and why.
    pub fn without(state: PrinterState, message: impl Into<String>) -> Self {
        Self {
            state,
            reasons: vec![],
            message: message.into(),
            markers: vec![],
            formats: vec![],
            media_ready: vec![],
        }
    }

    /// The printer's state in one sentence.
    pub fn sentence(&self) -> String {
        // A printer's idle message says nothing a stopped state does not.
        let generic = ["idle", "ready", "ready to print", "none"];
        let own = self
            .message
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if own.is_empty() || own == self.state.words() || generic.contains(&own.as_str()) {
            format!("The printer is {}.", self.state.words())
        } else {
            format!("The printer is {}: {}", self.state.words(), self.message)
        }
    }
}

/// `printer-state`: 3 idle, 4 processing, 5 stopped.
pub const IPP_IDLE: i32 = 3;
pub const IPP_PROCESSING: i32 = 4;
pub const IPP_STOPPED: i32 = 5;

/// The state from `printer-state` and its reasons (suffixes such as
/// `-error` and `-warning` stripped): a jam or empty paper first, since
/// that is what staff must fix, then a stop, then what the printer does.
pub fn classify(printer_state: i32, reasons: &[String]) -> PrinterState {
    let has = |names: &[&str]| reasons.iter().any(|r| names.contains(&r.as_str()));
    if has(&["media-jam", "jam"]) {
        return PrinterState::Jammed;
    }
    if has(&["media-empty", "media-needed"]) {
        return PrinterState::OutOfPaper;
    }
    if printer_state == IPP_STOPPED
        || has(&[
            "paused",
            "shutdown",
            "cover-open",
            "door-open",
            "input-tray-missing",
            "output-tray-missing",
            "marker-supply-empty",
            "toner-empty",
            "spool-area-full",
            "offline",
        ])
    {
        return PrinterState::Stopped;
    }
    if has(&["marker-supply-low", "toner-low", "media-low"]) {
        return PrinterState::SupplyLow;
    }
    if printer_state == IPP_PROCESSING {
        return PrinterState::Printing;
    }
    PrinterState::Ready
}

/// A reason keyword without its severity suffix.
pub fn reason_name(keyword: &str) -> String {
    ["-error", "-warning", "-report"]
        .iter()
        .find_map(|s| keyword.strip_suffix(s))
        .unwrap_or(keyword)
        .to_string()
}

/// Levels from CUPS's `marker-names`/`marker-levels`, or else from IPP
/// Everywhere's `printer-supply` strings (`type=…;level=…;…`).
pub fn markers(names: &[String], levels: &[i32], supplies: &[String]) -> Vec<Marker> {
    let level = |l: i32| u8::try_from(l).ok().filter(|l| *l <= 100);
    if !levels.is_empty() {
        return levels
            .iter()
            .enumerate()
            .map(|(i, l)| Marker {
                name: names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("supply {}", i + 1)),
                level: level(*l),
            })
            .collect();
    }
    supplies
        .iter()
        .filter_map(|s| {
            let field = |key: &str| {
                s.split(';')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .map(str::to_string)
            };
            // Waste receptacles fill up; only what is used up counts.
            if field("class").is_some_and(|c| c == "receptacleThatIsFilled") {
                return None;
            }
            let name = match (field("type"), field("colorantname")) {
                (Some(t), Some(c)) if c != "unknown" => format!("{t} ({c})"),
                (Some(t), _) => t,
                _ => return None,
            };
            Some(Marker {
                name,
                level: field("level").and_then(|l| l.parse().ok()).and_then(level),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| reason_name(s)).collect()
    }

    #[test]
    fn the_state_staff_must_act_on_comes_first() {
        assert_eq!(classify(IPP_IDLE, &reasons(&["none"])), PrinterState::Ready);
        assert_eq!(classify(IPP_PROCESSING, &[]), PrinterState::Printing);
        assert_eq!(
            classify(
                IPP_PROCESSING,
                &reasons(&["media-needed-error", "media-empty"])
            ),
            PrinterState::OutOfPaper
        );
        assert_eq!(
            classify(IPP_STOPPED, &reasons(&["media-jam-error", "paused"])),
            PrinterState::Jammed
        );
        assert_eq!(classify(IPP_STOPPED, &[]), PrinterState::Stopped);
        assert_eq!(
            classify(IPP_IDLE, &reasons(&["marker-supply-low-warning"])),
            PrinterState::SupplyLow
        );
        assert!(PrinterState::SupplyLow.can_print());
        assert!(!PrinterState::OutOfPaper.can_print());
        assert!(!PrinterState::Unreachable.can_print());
    }

    #[test]
    fn supplies_read_from_either_convention() {
        let cups = markers(&["Ribbon".into()], &[37], &[]);
        assert_eq!(
            cups,
            [Marker {
                name: "Ribbon".into(),
                level: Some(37)
            }]
        );
        let ipp = markers(
            &[],
            &[],
            &[
                "index=1;class=receptacleThatIsFilled;type=wasteToner;level=25;".into(),
                "index=2;class=supplyThatIsConsumed;type=toner;level=75;colorantname=black;".into(),
                "index=3;class=supplyThatIsConsumed;type=ink;level=-3;".into(),
            ],
        );
        assert_eq!(
            ipp,
            [
                Marker {
                    name: "toner (black)".into(),
                    level: Some(75)
                },
                Marker {
                    name: "ink".into(),
                    level: None
                },
            ]
        );
    }
}
