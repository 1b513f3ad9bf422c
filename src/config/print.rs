//! The printed keepsake card: which printer, when a card prints, its
//! layout and how many. Read from the config file at start.

use serde::{Deserialize, Serialize};

use super::{err, ConfigError};

/// When a card prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintWhen {
    /// Never: no button, no automatic print.
    Off,
    /// When the guest taps "Print my card".
    OnRequest,
    /// By itself once the job is unlocked (paid, free event or staff).
    AfterUnlock,
    /// By itself as soon as the preview is ready.
    Always,
}

/// The card's paper and orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrintLayout {
    /// 4 × 6 in, portrait.
    #[serde(rename = "4x6")]
    Portrait4x6,
    /// 6 × 4 in, landscape, on the same paper.
    #[serde(rename = "6x4")]
    Landscape6x4,
    /// Two 2 × 6 in strips side by side on 4 × 6 paper, cut by the
    /// printer (or by hand).
    #[serde(rename = "2x6")]
    Strip2x6,
}

/// Copies per print request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintCopies {
    #[serde(rename = "1")]
    One,
    /// One per face found in the photo (a couple takes two home).
    PerFace,
}

/// The printing keys of [`super::Settings`], checked together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintSettings {
    /// `ipp://host:631/ipp/print`, `ipp://localhost:631/printers/NAME`;
    /// empty: no printer.
    pub printer_uri: String,
    pub print_when: PrintWhen,
    pub print_layout: PrintLayout,
    pub print_copies: PrintCopies,
    /// Print requests per job (a guest's), reprints by staff not counted.
    pub print_limit: u32,
}

impl Default for PrintSettings {
    fn default() -> Self {
        Self {
            printer_uri: String::new(),
            print_when: PrintWhen::Off,
            print_layout: PrintLayout::Portrait4x6,
            print_copies: PrintCopies::One,
            print_limit: 2,
        }
    }
}

impl PrintSettings {
    /// Whether cards print at all.
    pub fn enabled(&self) -> bool {
        self.print_when != PrintWhen::Off && !self.printer_uri.is_empty()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.printer_uri.is_empty() {
            PrinterUri::parse(&self.printer_uri).map_err(|m| err("printer_uri", m))?;
        } else if self.print_when != PrintWhen::Off {
            return Err(err(
                "printer_uri",
                "must be set when print_when is not off (e.g. ipp://printer.local:631/ipp/print)",
            ));
        }
        if !(1..=20).contains(&self.print_limit) {
            return Err(err("print_limit", "must be between 1 and 20"));
        }
        Ok(())
    }
}

/// A printer's IPP address, and the HTTP address its requests go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterUri {
    /// As staff wrote it (`ipp://…`), for the `printer-uri` attribute.
    pub ipp: String,
    /// `http://host:631/path` (`https://` for `ipps://`).
    pub http: String,
}

impl PrinterUri {
    /// `ipp://` or `ipps://` (port 631 unless given), or `http(s)://`;
    /// a host is required; no user, query or fragment.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
        let secure = match url.scheme() {
            "ipp" | "http" => false,
            "ipps" | "https" => true,
            other => {
                return Err(format!(
                    "`{other}://` is no printer address: use ipp://host:631/ipp/print \
                     or ipp://localhost:631/printers/NAME"
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the address names no printer host")?;
        if !url.username().is_empty() || url.query().is_some() || url.fragment().is_some() {
            return Err("the address may not carry a user, query or fragment".into());
        }
        let port = url.port().unwrap_or(match url.scheme() {
            "http" => 80,
            "https" => 443,
            _ => 631,
        });
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let path = match url.path() {
            "" | "/" => "/ipp/print",
            p => p,
        };
        let (ipp_scheme, http_scheme) = if secure {
            ("ipps", "https")
        } else {
            ("ipp", "http")
        };
        Ok(Self {
            ipp: format!("{ipp_scheme}://{host}:{port}{path}"),
            http: format!("{http_scheme}://{host}:{port}{path}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_addresses_map_to_http() {
        let u = PrinterUri::parse("ipp://printer.local/ipp/print").expect("ok");
        assert_eq!(u.http, "http://printer.local:631/ipp/print");
        assert_eq!(u.ipp, "ipp://printer.local:631/ipp/print");
        let u = PrinterUri::parse("ipps://10.0.0.5:8631").expect("ok");
        assert_eq!(u.http, "https://10.0.0.5:8631/ipp/print");
        let u = PrinterUri::parse("ipp://localhost:631/printers/Selphy").expect("ok");
        assert_eq!(u.http, "http://localhost:631/printers/Selphy");
        for bad in [
            "",
            "printer",
            "lpd://p/q",
            "ipp://user@p/x",
            "ipp://p/x?y=1",
        ] {
            assert!(PrinterUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_read_as_staff_write_them() {
        let s: PrintSettings = toml::from_str(
            r#"printer_uri = "ipp://printer.local:631/ipp/print"
               print_when = "after_unlock"
               print_layout = "2x6"
               print_copies = "per_face"
               print_limit = 3"#,
        )
        .expect("parses");
        assert_eq!(s.print_when, PrintWhen::AfterUnlock);
        assert_eq!(s.print_layout, PrintLayout::Strip2x6);
        assert_eq!(s.print_copies, PrintCopies::PerFace);
        assert!(s.validate().is_ok() && s.enabled());
        let one: PrintCopies = toml::from_str::<toml::Value>(r#"v = "1""#)
            .expect("toml")
            .get("v")
            .cloned()
            .expect("v")
            .try_into()
            .expect("1");
        assert_eq!(one, PrintCopies::One);
    }

    #[test]
    fn bad_values_name_their_key() {
        let on = PrintSettings {
            print_when: PrintWhen::OnRequest,
            ..PrintSettings::default()
        };
        assert_eq!(on.validate().expect_err("no uri").key, "printer_uri");
        let ftp = PrintSettings {
            printer_uri: "ftp://printer/".into(),
            ..on.clone()
        };
        assert_eq!(ftp.validate().expect_err("scheme").key, "printer_uri");
        let limit = PrintSettings {
            printer_uri: "ipp://p/ipp/print".into(),
            print_limit: 0,
            ..on
        };
        assert_eq!(limit.validate().expect_err("limit").key, "print_limit");
        assert!(!PrintSettings::default().enabled());
    }
}
