//! A minimal Server-Sent Events parser: `id:`, `event:`, `data:` lines, comments,
//! an event ends at a blank line (the WHATWG rules this stream needs; `retry:` and
//! other fields are ignored).

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `id:`, if the event had one.
    pub id: Option<String>,
    /// `event:` (`message` when absent).
    pub kind: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// What one fed chunk completed.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Events completed by the chunk, in order.
    pub events: Vec<Event>,
    /// Comment lines (`: keep-alive`).
    pub comments: usize,
}

/// Bytes of a stream, cut into events as they come.
#[derive(Debug, Default)]
pub struct Parser {
    /// An incomplete line carried over to the next chunk.
    partial: Vec<u8>,
    id: Option<String>,
    kind: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, chunk: &[u8]) -> Parsed {
        let mut out = Parsed::default();
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(nl);
            rest = &after[1..];
            if self.partial.is_empty() {
                self.line(line, &mut out);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, &mut out);
            }
        }
        self.partial.extend_from_slice(rest);
        out
    }

    fn line(&mut self, line: &[u8], out: &mut Parsed) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.events.push(Event {
                    id: self.id.take(),
                    kind: self.kind.take().unwrap_or_else(|| "message".into()),
                    data,
                });
            }
            self.id = None;
            self.kind = None;
            return;
        }
        if line[0] == b':' {
            out.comments += 1;
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*text, ""),
        };
        match field {
            "id" => self.id = Some(value.to_owned()),
            "event" => self.kind = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_put_back_together() {
        let stream = b": keep-alive\n\nid: 7\nevent: epoch\ndata: {\"a\":1}\n\nevent: late\ndata: x\ndata: y\r\n\r\n";
        for cut in 0..stream.len() {
            let mut p = Parser::default();
            let mut events = p.feed(&stream[..cut]).events;
            let second = p.feed(&stream[cut..]);
            events.extend(second.events);
            assert_eq!(
                events,
                vec![
                    Event {
                        id: Some("7".into()),
                        kind: "epoch".into(),
                        data: "{\"a\":1}".into()
                    },
                    Event {
                        id: None,
                        kind: "late".into(),
                        data: "x\ny".into()
                    },
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn comments_are_counted() {
        let mut p = Parser::default();
        let parsed = p.feed(b": keep-alive\n\n: keep-alive\n\n");
        assert_eq!(parsed.comments, 2);
        assert!(parsed.events.is_empty());
    }
}
