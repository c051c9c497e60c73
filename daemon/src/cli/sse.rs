//! A parser of Server-Sent Events (`text/event-stream`) fed as bytes
//! arrive, for `results tail`.

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (default `message`).
    pub event: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
    /// The event's own `id:`, if it has one.
    pub id: Option<String>,
}

/// An incremental parser of `text/event-stream` (the WHATWG rules: lines end
/// with LF, CRLF or CR; a blank line dispatches; `:` starts a comment; one
/// space after the colon is dropped; an event without data is not dispatched).
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
    after_cr: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            // The LF of a CRLF whose CR already ended the line.
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            if b == b'\n' || b == b'\r' {
                self.after_cr = b == b'\r';
                let line = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                if let Some(event) = self.line(&line) {
                    events.push(event);
                }
            } else {
                self.pending.push(b);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            let id = self.id.take();
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(SseEvent {
                event: if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                },
                data,
                id,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_anywhere_and_any_line_ending() {
        let text = "id: 7\r\nevent: epoch\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: late\ndata: x\ndata:y\n\nevent: end\rdata: {}\r\r";
        // Every split point gives the same events.
        for split in 0..text.len() {
            let mut p = SseParser::default();
            let mut events = p.push(&text.as_bytes()[..split]);
            events.extend(p.push(&text.as_bytes()[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        event: "epoch".into(),
                        data: "{\"a\":1}".into(),
                        id: Some("7".into())
                    },
                    SseEvent {
                        event: "late".into(),
                        data: "x\ny".into(),
                        id: None
                    },
                    SseEvent {
                        event: "end".into(),
                        data: "{}".into(),
                        id: None
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: epoch\nid: 3\n\n").is_empty());
        let events = p.push(b"data: 1\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message");
        assert_eq!(events[0].id, None);
    }
}
