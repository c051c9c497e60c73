//! One generated event: its fields, the accessors tests and generators use, and the
//! single description of its shape that both encodings are written from.

use std::fmt;

use crate::encode::{Json, MsgPack, Sink};
use crate::Format;

/// The two kinds of event in the reference mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A large, nested web request event (`"type": "WEB"`), ~1.24 KB in MessagePack.
    Web,
    /// A small availability-cluster event (`"type": "AV"`), ~150 B in MessagePack.
    Av,
}

impl Kind {
    /// The value of the event's `type` field: `"WEB"` or `"AV"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Web => "WEB",
            Kind::Av => "AV",
        }
    }
}

/// The subtype of every AV event.
pub(crate) const AV_SUBTYPE: &str = "availability_cluster";

/// Most experiments an event can carry.
pub(crate) const MAX_EXPERIMENTS: usize = 10;
/// Most warnings an event can carry (`tuning.nr_warnings` is at most 3).
pub(crate) const MAX_WARNINGS: usize = 3;

/// One event of the reference workload, borrowing its strings from the [`Workload`]
/// that generated it.
///
/// It is produced by [`EpochEvents`] and is meant to be written ([`Event::write_msgpack`],
/// [`Event::write_json`]) and dropped; the accessors expose the fields generators and
/// tests route or count by, without re-parsing.
///
/// [`Workload`]: crate::Workload
/// [`EpochEvents`]: crate::EpochEvents
#[derive(Clone)]
pub struct Event<'w> {
    pub(crate) epoch: u64,
    /// Offset of the timestamp inside the epoch, in microseconds (< 1_000_000).
    pub(crate) micros: u32,
    pub(crate) dc: &'w str,
    pub(crate) host: &'w str,
    pub(crate) body: Body<'w>,
}

#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "events are built, written and dropped one at a time; boxing the web variant \
              would add an allocation per event and save nothing"
)]
pub(crate) enum Body<'w> {
    Web(Web<'w>),
    Av(Av),
}

#[derive(Clone)]
pub(crate) struct Av {
    pub(crate) hotel_id: u64,
    pub(crate) nr_rooms: u64,
    pub(crate) latency_ms: f64,
    pub(crate) cache_hit: bool,
}

/// A byte range of [`Web::text`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

#[derive(Clone)]
pub(crate) struct Web<'w> {
    pub(crate) subtype: &'static str,
    pub(crate) pid: u64,
    pub(crate) persona: &'static str,
    pub(crate) action: Action<'w>,
    pub(crate) tuning: Tuning,
    pub(crate) http: Http<'w>,
    /// The first `n_experiments` entries are used; names are distinct.
    pub(crate) experiments: [(&'w str, u8); MAX_EXPERIMENTS],
    pub(crate) n_experiments: usize,
    /// The first `tuning.nr_warnings` entries are used.
    pub(crate) warnings: [&'w str; MAX_WARNINGS],
    /// Every string made up for this event (ids, the request line, referer, ...) lives
    /// in this one buffer, so a web event costs one allocation.
    pub(crate) text: String,
}

#[derive(Clone)]
pub(crate) struct Action<'w> {
    pub(crate) name: &'w str,
    pub(crate) is_normal_user: bool,
    pub(crate) is_robot: bool,
    pub(crate) is_internal: bool,
    pub(crate) pageview_id: Span,
    pub(crate) session_id: Span,
    pub(crate) lang: &'static str,
    pub(crate) currency: &'static str,
    pub(crate) country: &'static str,
    pub(crate) affiliate_id: u64,
    pub(crate) user_id: u64,
    pub(crate) stage: u64,
    pub(crate) ab_seed: u64,
}

#[derive(Clone)]
pub(crate) struct Tuning {
    pub(crate) the_request: Span,
    pub(crate) bytes_body: u64,
    pub(crate) bytes_header: u64,
    pub(crate) wallclock: u64,
    pub(crate) utime: f64,
    pub(crate) stime: f64,
    pub(crate) nr_warnings: u64,
    pub(crate) nr_queries: u64,
    pub(crate) nr_memcached: u64,
    pub(crate) db_time: f64,
    pub(crate) memcached_time: f64,
    pub(crate) template_time: f64,
    pub(crate) rss_mb: u64,
    pub(crate) gc_count: u64,
    pub(crate) status: u64,
}

#[derive(Clone)]
pub(crate) struct Http<'w> {
    pub(crate) method: &'static str,
    pub(crate) referer: Span,
    pub(crate) user_agent: &'w str,
    pub(crate) ip: Span,
    pub(crate) accept_language: Span,
}

impl Web<'_> {
    fn get(&self, span: &Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }
}

impl<'w> Event<'w> {
    /// The `epoch` field: the second this event belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The `timestamp` field in seconds: inside `[epoch, epoch + 1)`, a whole number of
    /// microseconds (exactly so for epochs below 2^53 / 10^6, i.e. until the year 2255).
    pub fn timestamp(&self) -> f64 {
        // One rounding of the exact decimal value, so the JSON text of this float is at
        // most 16 significant digits and every JSON reader gets the same f64 back.
        let micros = u128::from(self.epoch) * 1_000_000 + u128::from(self.micros);
        micros as f64 / 1e6
    }

    /// The `type` field, as a [`Kind`].
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Web(_) => Kind::Web,
            Body::Av(_) => Kind::Av,
        }
    }

    /// The `subtype` field: `app`, `ajax`, `secure`, `api` or `mobile` for web events,
    /// `availability_cluster` for AV events.
    pub fn subtype(&self) -> &str {
        match &self.body {
            Body::Web(web) => web.subtype,
            Body::Av(_) => AV_SUBTYPE,
        }
    }

    /// The `dc` field: one of the configured data centers.
    pub fn dc(&self) -> &'w str {
        self.dc
    }

    /// The `host` field.
    pub fn host(&self) -> &'w str {
        self.host
    }

    /// `tuning.status` of a web event (the reference error-rate job counts `>= 500`);
    /// `None` for AV events.
    pub fn status(&self) -> Option<u64> {
        match &self.body {
            Body::Web(web) => Some(web.tuning.status),
            Body::Av(_) => None,
        }
    }

    /// `tuning.wallclock` of a web event in milliseconds (the reference latency job's
    /// input); `None` for AV events.
    pub fn wallclock_ms(&self) -> Option<u64> {
        match &self.body {
            Body::Web(web) => Some(web.tuning.wallclock),
            Body::Av(_) => None,
        }
    }

    /// Appends this event as one MessagePack map.
    pub fn write_msgpack(&self, out: &mut Vec<u8>) {
        self.emit(&mut MsgPack(out));
    }

    /// Appends this event as one line of JSON, newline included (NDJSON).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.emit(&mut Json::new(out));
        out.push(b'\n');
    }

    /// Appends this event in `format`.
    pub fn write(&self, format: Format, out: &mut Vec<u8>) {
        match format {
            Format::MsgPack => self.write_msgpack(out),
            Format::Ndjson => self.write_json(out),
        }
    }

    /// The one description of the event's shape. Keys, order and value types here are
    /// the workload's schema (docs/WORKLOAD.md); both encodings follow it call for call.
    fn emit<S: Sink>(&self, s: &mut S) {
        match &self.body {
            Body::Av(av) => {
                s.map(10);
                self.emit_common(s);
                s.key("hotel_id");
                s.uint(av.hotel_id);
                s.key("nr_rooms");
                s.uint(av.nr_rooms);
                s.key("latency_ms");
                s.float(av.latency_ms);
                s.key("cache_hit");
                s.uint(u64::from(av.cache_hit));
                s.end_map();
            }
            Body::Web(web) => {
                s.map(13);
                self.emit_common(s);
                s.key("pid");
                s.uint(web.pid);
                s.key("persona");
                s.str(web.persona);
                s.key("action");
                emit_action(web, s);
                s.key("tuning");
                emit_tuning(web, s);
                s.key("http");
                emit_http(web, s);
                s.key("experiments");
                let experiments = &web.experiments[..web.n_experiments];
                s.map(experiments.len() as u32);
                for &(name, value) in experiments {
                    s.key(name);
                    s.uint(u64::from(value));
                }
                s.end_map();
                s.key("warnings");
                let warnings = &web.warnings[..web.tuning.nr_warnings as usize];
                s.array(warnings.len() as u32);
                for warning in warnings {
                    s.str(warning);
                }
                s.end_array();
                s.end_map();
            }
        }
    }

    /// The six fields every event starts with.
    fn emit_common<S: Sink>(&self, s: &mut S) {
        s.key("epoch");
        s.uint(self.epoch);
        s.key("timestamp");
        s.float(self.timestamp());
        s.key("type");
        s.str(self.kind().as_str());
        s.key("subtype");
        s.str(self.subtype());
        s.key("dc");
        s.str(self.dc);
        s.key("host");
        s.str(self.host);
    }
}

fn emit_action<S: Sink>(web: &Web<'_>, s: &mut S) {
    let a = &web.action;
    s.map(13);
    s.key("name");
    s.str(a.name);
    s.key("is_normal_user");
    s.uint(u64::from(a.is_normal_user));
    s.key("is_robot");
    s.uint(u64::from(a.is_robot));
    s.key("is_internal");
    s.uint(u64::from(a.is_internal));
    s.key("pageview_id");
    s.str(web.get(&a.pageview_id));
    s.key("session_id");
    s.str(web.get(&a.session_id));
    s.key("lang");
    s.str(a.lang);
    s.key("currency");
    s.str(a.currency);
    s.key("country");
    s.str(a.country);
    s.key("affiliate_id");
    s.uint(a.affiliate_id);
    s.key("user_id");
    s.uint(a.user_id);
    s.key("stage");
    s.uint(a.stage);
    s.key("ab_seed");
    s.uint(a.ab_seed);
    s.end_map();
}

fn emit_tuning<S: Sink>(web: &Web<'_>, s: &mut S) {
    let t = &web.tuning;
    s.map(15);
    s.key("the_request");
    s.str(web.get(&t.the_request));
    s.key("bytes_body");
    s.uint(t.bytes_body);
    s.key("bytes_header");
    s.uint(t.bytes_header);
    s.key("wallclock");
    s.uint(t.wallclock);
    s.key("utime");
    s.float(t.utime);
    s.key("stime");
    s.float(t.stime);
    s.key("nr_warnings");
    s.uint(t.nr_warnings);
    s.key("nr_queries");
    s.uint(t.nr_queries);
    s.key("nr_memcached");
    s.uint(t.nr_memcached);
    s.key("db_time");
    s.float(t.db_time);
    s.key("memcached_time");
    s.float(t.memcached_time);
    s.key("template_time");
    s.float(t.template_time);
    s.key("rss_mb");
    s.uint(t.rss_mb);
    s.key("gc_count");
    s.uint(t.gc_count);
    s.key("status");
    s.uint(t.status);
    s.end_map();
}

fn emit_http<S: Sink>(web: &Web<'_>, s: &mut S) {
    let h = &web.http;
    s.map(6);
    s.key("method");
    s.str(h.method);
    s.key("referer");
    s.str(web.get(&h.referer));
    s.key("user_agent");
    s.str(h.user_agent);
    s.key("ip");
    s.str(web.get(&h.ip));
    s.key("accept_language");
    s.str(web.get(&h.accept_language));
    s.key("proto");
    s.str("https");
    s.end_map();
}

impl fmt::Debug for Event<'_> {
    /// The routing fields only; write the event to see all of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("epoch", &self.epoch)
            .field("timestamp", &self.timestamp())
            .field("type", &self.kind().as_str())
            .field("subtype", &self.subtype())
            .field("dc", &self.dc)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}
