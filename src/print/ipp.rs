//! The printer's side, over IPP (the `ipp` crate encodes and decodes;
//! requests go over plain HTTP with `ureq`, each with a timeout). The
//! calls block: the print task runs them on the blocking pool.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use ipp::prelude::*;
use ipp::value::{IppMimeMediaType, IppName};

use super::status::{self, Marker, PrinterState, PrinterStatus};
use crate::config::PrinterUri;

/// Connecting to a printer on the venue network takes this long at most.
const CONNECT: Duration = Duration::from_secs(3);
/// An answer to a question about the printer or a job.
const ASK: Duration = Duration::from_secs(8);
/// Sending a card (a few MB over Wi-Fi to a printer that may be warming up).
const SEND: Duration = Duration::from_secs(60);
/// The largest IPP answer read (a printer's attributes are ~20 kB).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
pub const USER: &str = "smileloop";

#[derive(Debug, thiserror::Error)]
pub enum IppError {
    #[error("no answer from the printer: {0}")]
    Unreachable(String),
    #[error("something answers at the printer's address, but not as a printer: {0}")]
    NotIpp(String),
    #[error("the printer refused: {status}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused {
        status: StatusCode,
        message: Option<String>,
    },
    #[error("could not write the request: {0}")]
    Request(String),
}

impl IppError {
    /// The printer state this failure shows as.
    pub fn state(&self) -> PrinterState {
        match self {
            Self::Unreachable(_) => PrinterState::Unreachable,
            Self::NotIpp(_) | Self::Request(_) => PrinterState::NotAPrinter,
            Self::Refused { .. } => PrinterState::Stopped,
        }
    }
}

/// What the kiosk needs to know of a printer, read once per check.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub formats: Vec<String>,
    /// `pwg-raster-document-resolution-supported`, dpi (cross-feed).
    pub pwg_resolutions: Vec<u32>,
    pub pwg_types: Vec<String>,
    /// `urf-supported`.
    pub urf: Vec<String>,
    pub media_supported: Vec<String>,
    pub media_ready: Vec<String>,
    /// Media keywords the database lists with all four margins 0.
    pub borderless: Vec<String>,
}

/// A job's state as the printer tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobProgress {
    /// Pending or processing: ask again.
    Going,
    /// Held or stopped at the printer (out of paper, paused).
    Stopped,
    Completed,
    /// Canceled or aborted at the printer.
    Ended,
}

/// What to print and how.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Unique per print request: found again by name after a restart.
    pub name: String,
    pub format: &'static str,
    pub media: &'static str,
    pub borderless: bool,
    pub copies: u32,
}

pub struct Ipp {
    uri: PrinterUri,
    agent: ureq::Agent,
}

impl Ipp {
    pub fn new(uri: PrinterUri) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT)
            .redirects(0)
            .build();
        Self { uri, agent }
    }

    pub fn uri(&self) -> &PrinterUri {
        &self.uri
    }

    fn request(&self, op: Operation) -> Result<IppRequestResponse, IppError> {
        let uri: Uri = self
            .uri
            .ipp
            .parse()
            .map_err(|e: http::uri::InvalidUri| IppError::Request(e.to_string()))?;
        let mut req = IppRequestResponse::new(IppVersion::v2_0(), op, Some(uri))
            .map_err(|e| IppError::Request(e.to_string()))?;
        add(
            &mut req,
            DelimiterTag::OperationAttributes,
            "requesting-user-name",
            name_value(USER)?,
        );
        Ok(req)
    }

    /// Sends `req` (with `document` after it) and reads a successful answer.
    fn send(
        &self,
        req: IppRequestResponse,
        document: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<IppRequestResponse, IppError> {
        let mut body = req.to_bytes().to_vec();
        if let Some(doc) = document {
            body.extend_from_slice(doc);
        }
        let answer = self
            .agent
            .post(&self.uri.http)
            .timeout(timeout)
            .set("Content-Type", "application/ipp")
            .send_bytes(&body);
        let resp = match answer {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => {
                return Err(IppError::NotIpp(format!("HTTP {code}")));
            }
            Err(ureq::Error::Transport(t)) => return Err(IppError::Unreachable(t.to_string())),
        };
        if resp.content_type() != "application/ipp" {
            return Err(IppError::NotIpp(format!(
                "it answered {} instead of application/ipp",
                resp.content_type()
            )));
        }
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut bytes)
            .map_err(|e| IppError::Unreachable(e.to_string()))?;
        let parsed = ipp::parser::IppParser::new(std::io::Cursor::new(bytes))
            .parse()
            .map_err(|e| IppError::NotIpp(e.to_string()))?;
        let code = parsed.header().status_code();
        if !code.is_success() {
            let message = group(&parsed, DelimiterTag::OperationAttributes)
                .get("status-message")
                .and_then(|v| v.first().cloned());
            return Err(IppError::Refused {
                status: code,
                message,
            });
        }
        Ok(parsed)
    }

    /// Get-Printer-Attributes: the state and what it takes.
    pub fn status(&self) -> Result<(PrinterStatus, Capabilities), IppError> {
        let mut req = self.request(Operation::GetPrinterAttributes)?;
        let wanted = [
            "printer-state",
            "printer-state-reasons",
            "printer-state-message",
            "document-format-supported",
            "media-supported",
            "media-ready",
            "media-col-database",
            "marker-names",
            "marker-levels",
            "printer-supply",
            "pwg-raster-document-resolution-supported",
            "pwg-raster-document-type-supported",
            "urf-supported",
        ];
        let values: Vec<IppValue> = wanted
            .iter()
            .map(|w| keyword_value(w))
            .collect::<Result<_, _>>()?;
        add(
            &mut req,
            DelimiterTag::OperationAttributes,
            "requested-attributes",
            IppValue::Array(values),
        );
        let resp = self.send(req, None, ASK)?;
        let attrs = resp
            .attributes()
            .groups_of(DelimiterTag::PrinterAttributes)
            .next()
            .ok_or_else(|| IppError::NotIpp("no printer attributes in the answer".into()))?;
        let strings = |name: &str| {
            attrs
                .get(name)
                .map(|a| texts(a.value()))
                .unwrap_or_default()
        };
        let ints = |name: &str| {
            attrs
                .get(name)
                .map(|a| integers(a.value()))
                .unwrap_or_default()
        };
        let state = ints("printer-state")
            .first()
            .copied()
            .unwrap_or(status::IPP_IDLE);
        let reasons: Vec<String> = strings("printer-state-reasons")
            .iter()
            .filter(|r| r.as_str() != "none")
            .map(|r| status::reason_name(r))
            .collect();
        let caps = Capabilities {
            formats: strings("document-format-supported"),
            pwg_resolutions: attrs
                .get("pwg-raster-document-resolution-supported")
                .map(|a| resolutions(a.value()))
                .unwrap_or_default(),
            pwg_types: strings("pwg-raster-document-type-supported"),
            urf: strings("urf-supported"),
            media_supported: strings("media-supported"),
            media_ready: strings("media-ready"),
            borderless: attrs
                .get("media-col-database")
                .map(|a| borderless(a.value()))
                .unwrap_or_default(),
        };
        let markers: Vec<Marker> = status::markers(
            &strings("marker-names"),
            &ints("marker-levels"),
            &strings("printer-supply"),
        );
        let status = PrinterStatus {
            state: status::classify(state, &reasons),
            message: strings("printer-state-message")
                .first()
                .cloned()
                .unwrap_or_default(),
            reasons,
            markers,
            formats: caps.formats.clone(),
            media_ready: caps.media_ready.clone(),
        };
        Ok((status, caps))
    }

    fn job_request(&self, op: Operation, ticket: &Ticket) -> Result<IppRequestResponse, IppError> {
        let mut req = self.request(op)?;
        let op_group = DelimiterTag::OperationAttributes;
        add(&mut req, op_group, "job-name", name_value(&ticket.name)?);
        add(
            &mut req,
            op_group,
            "document-format",
            IppValue::MimeMediaType(
                IppMimeMediaType::new(ticket.format)
                    .map_err(|e| IppError::Request(e.to_string()))?,
            ),
        );
        let job = DelimiterTag::JobAttributes;
        add(
            &mut req,
            job,
            "copies",
            IppValue::Integer(ticket.copies.clamp(1, 99) as i32),
        );
        if ticket.borderless {
            let mut col = BTreeMap::new();
            col.insert(ipp_name("media-size-name")?, keyword_value(ticket.media)?);
            for side in ["top", "bottom", "left", "right"] {
                col.insert(
                    ipp_name(&format!("media-{side}-margin"))?,
                    IppValue::Integer(0),
                );
            }
            add(&mut req, job, "media-col", IppValue::Collection(col));
        } else {
            add(&mut req, job, "media", keyword_value(ticket.media)?);
        }
        add(&mut req, job, "print-scaling", keyword_value("none")?);
        Ok(req)
    }

    /// Validate-Job: whether the printer would take this ticket.
    pub fn validate(&self, ticket: &Ticket) -> Result<(), IppError> {
        let req = self.job_request(Operation::ValidateJob, ticket)?;
        self.send(req, None, ASK).map(drop)
    }

    /// Print-Job: the printer's job id.
    pub fn print(&self, ticket: &Ticket, document: &[u8]) -> Result<i32, IppError> {
        let req = self.job_request(Operation::PrintJob, ticket)?;
        let resp = self.send(req, Some(document), SEND)?;
        group(&resp, DelimiterTag::JobAttributes)
            .get("job-id")
            .and_then(|v| v.first())
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| IppError::NotIpp("Print-Job answered without a job-id".into()))
    }

    /// Get-Job-Attributes: `None` when the printer does not know the job
    /// (it restarted and forgot it), or knows it under another name.
    pub fn job(&self, id: i32, name: &str) -> Result<Option<JobProgress>, IppError> {
        let mut req = self.request(Operation::GetJobAttributes)?;
        add(
            &mut req,
            DelimiterTag::OperationAttributes,
            "job-id",
            IppValue::Integer(id),
        );
        let resp = match self.send(req, None, ASK) {
            Err(IppError::Refused {
                status: StatusCode::ClientErrorNotFound,
                ..
            }) => return Ok(None),
            other => other?,
        };
        let job = group(&resp, DelimiterTag::JobAttributes);
        if job
            .get("job-name")
            .and_then(|n| n.first())
            .is_some_and(|n| n != name)
        {
            return Ok(None);
        }
        let state = job
            .get("job-state")
            .and_then(|s| s.first())
            .and_then(|s| s.parse::<i32>().ok());
        Ok(Some(match state {
            Some(9) => JobProgress::Completed,
            Some(7 | 8) => JobProgress::Ended,
            Some(4 | 6) => JobProgress::Stopped,
            _ => JobProgress::Going,
        }))
    }

    /// Get-Jobs: the id of a job of ours with this name, if the printer has one.
    pub fn find(&self, name: &str) -> Result<Option<i32>, IppError> {
        let mut req = self.request(Operation::GetJobs)?;
        let op_group = DelimiterTag::OperationAttributes;
        add(&mut req, op_group, "which-jobs", keyword_value("all")?);
        add(
            &mut req,
            op_group,
            "requested-attributes",
            IppValue::Array(vec![keyword_value("job-id")?, keyword_value("job-name")?]),
        );
        let resp = self.send(req, None, ASK)?;
        for g in resp.attributes().groups_of(DelimiterTag::JobAttributes) {
            let named = g.get("job-name").map(|a| texts(a.value()));
            if named
                .as_ref()
                .and_then(|n| n.first())
                .is_some_and(|n| n == name)
            {
                return Ok(g
                    .get("job-id")
                    .and_then(|a| integers(a.value()).first().copied()));
            }
        }
        Ok(None)
    }

    /// Cancel-Job. A job the printer already finished or forgot is no error.
    pub fn cancel(&self, id: i32) -> Result<(), IppError> {
        let mut req = self.request(Operation::CancelJob)?;
        add(
            &mut req,
            DelimiterTag::OperationAttributes,
            "job-id",
            IppValue::Integer(id),
        );
        match self.send(req, None, ASK) {
            Ok(_) => Ok(()),
            Err(IppError::Refused {
                status: StatusCode::ClientErrorNotFound | StatusCode::ClientErrorNotPossible,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn add(req: &mut IppRequestResponse, tag: DelimiterTag, name: &str, value: IppValue) {
    if let Ok(attr) = IppAttribute::with_name(name, value) {
        req.attributes_mut().add(tag, attr);
    }
}

fn ipp_name(name: &str) -> Result<IppName, IppError> {
    IppName::new(name).map_err(|e| IppError::Request(e.to_string()))
}

fn keyword_value(k: &str) -> Result<IppValue, IppError> {
    IppValue::new_keyword(k).map_err(|e| IppError::Request(e.to_string()))
}

fn name_value(n: &str) -> Result<IppValue, IppError> {
    IppValue::new_name_without_language(n).map_err(|e| IppError::Request(e.to_string()))
}

/// The first group of `tag`, each attribute's values as text.
fn group(resp: &IppRequestResponse, tag: DelimiterTag) -> BTreeMap<String, Vec<String>> {
    resp.attributes()
        .groups_of(tag)
        .next()
        .map(|g| {
            g.attributes()
                .iter()
                .map(|a| (a.name().as_str().to_string(), texts(a.value())))
                .collect()
        })
        .unwrap_or_default()
}

fn each(v: &IppValue) -> Vec<&IppValue> {
    match v {
        IppValue::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// Every value as text: strings as they are, numbers in decimal.
fn texts(v: &IppValue) -> Vec<String> {
    each(v)
        .into_iter()
        .filter_map(|v| match v {
            IppValue::Keyword(s) | IppValue::MemberAttrName(s) => Some(s.as_str().to_string()),
            IppValue::MimeMediaType(s) => Some(s.as_str().to_string()),
            IppValue::TextWithoutLanguage(s) => Some(s.to_string()),
            IppValue::TextWithLanguage { text, .. } => Some(text.to_string()),
            IppValue::NameWithoutLanguage(s) => Some(s.as_str().to_string()),
            IppValue::NameWithLanguage { name, .. } => Some(name.as_str().to_string()),
            IppValue::Uri(s) => Some(s.as_str().to_string()),
            IppValue::OctetString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            IppValue::Integer(i) | IppValue::Enum(i) => Some(i.to_string()),
            _ => None,
        })
        .collect()
}

fn integers(v: &IppValue) -> Vec<i32> {
    each(v)
        .into_iter()
        .filter_map(|v| match v {
            IppValue::Integer(i) | IppValue::Enum(i) => Some(*i),
            _ => None,
        })
        .collect()
}

/// Resolutions in dots per inch (units 3 = per inch, 4 = per cm).
fn resolutions(v: &IppValue) -> Vec<u32> {
    each(v)
        .into_iter()
        .filter_map(|v| match v {
            IppValue::Resolution {
                cross_feed,
                units: 3,
                ..
            } => u32::try_from(*cross_feed).ok(),
            IppValue::Resolution {
                cross_feed,
                units: 4,
                ..
            } => u32::try_from(*cross_feed)
                .ok()
                .map(|c| (c as f32 * 2.54).round() as u32),
            _ => None,
        })
        .collect()
}

/// The media-col-database entries with all four margins zero.
fn borderless(v: &IppValue) -> Vec<String> {
    each(v)
        .into_iter()
        .filter_map(|v| match v {
            IppValue::Collection(c) => {
                let margin = |side: &str| {
                    c.iter()
                        .find(|(k, _)| k.as_str() == format!("media-{side}-margin"))
                        .map(|(_, v)| integers(v))
                };
                let zero = ["top", "bottom", "left", "right"]
                    .iter()
                    .all(|s| margin(s).is_some_and(|m| m == [0]));
                let name = c
                    .iter()
                    .find(|(k, _)| k.as_str() == "media-size-name" || k.as_str() == "media-key")
                    .and_then(|(_, v)| texts(v).into_iter().next());
                zero.then_some(name).flatten()
            }
            _ => None,
        })
        .collect()
}
