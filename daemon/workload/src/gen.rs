//! Generating one event from its coordinates (seed, epoch, index).
//!
//! Every event has its own random stream, keyed by seed -> epoch -> index, so any event
//! can be generated without generating the ones before it: epoch 5 without epochs 0..4,
//! the second half of an epoch without the first (see `EpochEvents::nth`), or an epoch
//! split across threads. The order of the draws below is part of the workload's
//! definition: changing it changes every benchmark's input (bump `WORKLOAD_VERSION`).

use std::ops::{Deref, DerefMut};

use crate::dict::{Dicts, Site, WORDS};
use crate::dist::{Discrete, ZipfDict};
use crate::encode::decimal;
use crate::event::{
    Action, Av, Body, Event, Http, Span, Tuning, Web, MAX_EXPERIMENTS, MAX_WARNINGS,
};
use crate::rng::{derive, Rng};
use crate::WorkloadConfig;

/// WEB subtypes and their weights: app 3/8, ajax 2/8, secure, api, mobile 1/8 each.
const WEB_SUBTYPES: [(&str, f64); 5] = [
    ("app", 3.0),
    ("ajax", 2.0),
    ("secure", 1.0),
    ("api", 1.0),
    ("mobile", 1.0),
];
const PERSONAS: [&str; 4] = ["web", "search", "book", "admin"];
/// The 3% of non-200 statuses, most common first. Only 500 counts as an error (>= 500),
/// so the reference error rate is about 3% x 2/10 = 0.6%.
const OTHER_STATUSES: [(u64, f64); 4] = [(302, 4.0), (404, 3.0), (500, 2.0), (301, 1.0)];
/// The 5 big affiliates that 80% of web events carry, most common first.
const BIG_AFFILIATES: [u64; 5] = [304_142, 1_288_564, 382_821, 356_980, 797_487];
const DEST_TYPES: &[&str] = &["city", "region", "landmark", "hotel", "district"];
const ORDERS: &[&str] = &["popularity", "price", "review_score_and_price", "distance"];
const SEARCH_TLDS: &[&str] = &["com", "nl", "de", "co.uk", "fr", "es", "it"];
/// Base64url alphabet, for tracking labels.
const LABEL_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Cumulative days before each month of a non-leap year, for check-in dates.
const MONTH_STARTS: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/// Everything built once from a config: dictionaries, hosts and the samplers.
#[derive(Clone)]
pub(crate) struct Model {
    seed: u64,
    web_share: f64,
    sites: Vec<Site>,
    dcs: Discrete,
    dicts: Dicts,
    subtypes: Discrete,
    personas: ZipfDict<&'static str>,
    statuses: Discrete,
    nr_rooms: Discrete,
    affiliates: ZipfDict<u64>,
}

impl Model {
    /// Builds the model of a config that `WorkloadConfig::validate` accepted.
    pub(crate) fn new(config: &WorkloadConfig) -> Self {
        Model {
            seed: config.seed,
            web_share: config.web_share,
            sites: config.dcs.iter().map(|(name, _)| Site::new(name)).collect(),
            dcs: Discrete::from_weights(config.dcs.iter().map(|&(_, w)| f64::from(w))),
            dicts: Dicts::new(),
            subtypes: Discrete::from_weights(WEB_SUBTYPES.map(|(_, w)| w)),
            personas: ZipfDict::new(PERSONAS.to_vec()),
            statuses: Discrete::from_weights(OTHER_STATUSES.map(|(_, w)| w)),
            nr_rooms: Discrete::zipf(20, crate::dist::ZIPF_EXPONENT),
            affiliates: ZipfDict::new(BIG_AFFILIATES.to_vec()),
        }
    }

    /// Event `index` of the `count` events of `epoch`. Only its timestamp depends on
    /// `count`; every other field depends on (seed, epoch, index) alone.
    pub(crate) fn event(&self, epoch: u64, count: usize, index: usize) -> Event<'_> {
        let mut rng = Rng::new(derive(derive(self.seed, epoch), index as u64));
        let micros = stratified_micros(index, count, rng.below(1_000_000));
        let site = &self.sites[self.dcs.sample(&mut rng)];
        let (host, body) = if rng.chance(self.web_share) {
            let host = &site.web_hosts[rng.index(site.web_hosts.len())];
            (host, Body::Web(self.web(&mut rng)))
        } else {
            let host = &site.av_hosts[rng.index(site.av_hosts.len())];
            (host, Body::Av(self.av(&mut rng)))
        };
        Event {
            epoch,
            micros,
            dc: &site.name,
            host,
            body,
        }
    }

    fn av(&self, rng: &mut Rng) -> Av {
        Av {
            hotel_id: rng.below(3_000_000),
            nr_rooms: self.nr_rooms.sample(rng) as u64 + 1,
            // Kept to whole microseconds, like every float the workload makes: see
            // `round_to_micros`.
            latency_ms: round_to_micros(rng.lognormal(1.5, 0.7)),
            cache_hit: rng.chance(0.8),
        }
    }

    fn web(&self, rng: &mut Rng) -> Web<'_> {
        let subtype = WEB_SUBTYPES[self.subtypes.sample(rng)].0;
        let pid = rng.between(1000, 61000);
        let persona = *self.personas.sample(rng);
        // ajax requests hit the ajax_* endpoints, page views the pages.
        let is_ajax = subtype == "ajax";
        let pages = if is_ajax {
            &self.dicts.ajax_pages
        } else {
            &self.dicts.pages
        };
        let name = pages.sample(rng).as_str();
        // 5% robots, 90% normal users, 5% neither (monitoring, partners).
        let user_class = rng.unit();
        let is_robot = user_class < 0.05;
        let is_normal_user = user_class >= 0.10;
        let is_internal = rng.chance(0.01);

        let mut text = Text(String::with_capacity(640));
        let pageview_id = text.span(|t| rng.push_hex(t, 16));
        let session_id = text.span(|t| rng.push_hex(t, 32));
        let lang = *self.dicts.langs.sample(rng);
        let currency = *self.dicts.currencies.sample(rng);
        let country = *self.dicts.countries.sample(rng);
        let affiliate_id = if rng.chance(0.2) {
            rng.between(1, 2_000_000)
        } else {
            *self.affiliates.sample(rng)
        };
        let user_id = if rng.chance(0.6) {
            0
        } else {
            rng.between(1, 299_999_999)
        };
        let stage = rng.between(0, 3);
        let ab_seed = rng.below(1 << 31);
        let method = if rng.chance(0.85) { "GET" } else { "POST" };

        let wallclock = (rng.lognormal(5.0, 0.8).round() as u64).max(1);
        let wall_s = wallclock as f64 / 1000.0;
        let utime = round_to_micros(wall_s * 0.6 * rng.uniform(0.8, 1.2));
        let stime = round_to_micros(wall_s * 0.05 * rng.uniform(0.5, 1.5));
        let db_time = round_to_micros(wall_s * rng.uniform(0.05, 0.35));
        let memcached_time = round_to_micros(wall_s * rng.uniform(0.01, 0.10));
        let template_time = round_to_micros(wall_s * rng.uniform(0.05, 0.25));
        let bytes_body = rng.lognormal(10.5, 1.0).round() as u64;
        let bytes_header = rng.between(300, 900);
        let nr_warnings = if rng.chance(0.8) {
            0
        } else {
            rng.between(1, MAX_WARNINGS as u64)
        };
        let nr_queries = rng.lognormal(2.5, 1.0).round() as u64;
        let nr_memcached = rng.lognormal(3.0, 1.0).round() as u64;
        let rss_mb = rng.between(300, 800);
        let gc_count = rng.between(0, 4);
        let status = if rng.chance(0.97) {
            200
        } else {
            OTHER_STATUSES[self.statuses.sample(rng)].0
        };
        let the_request = text.span(|t| {
            push_request_head(t, rng, method, name, is_ajax, lang, affiliate_id);
            // The session id again inside the request line, as real request logs have it.
            t.push_str(";sid=");
            t.copy_span(session_id);
            push_request_tail(t, rng);
        });

        let referer = text.span(|t| self.push_referer(t, rng, lang, affiliate_id));
        let user_agent = self.dicts.user_agents.sample(rng).as_str();
        let ip = text.span(|t| {
            push_uint(t, rng.between(1, 223));
            for _ in 0..3 {
                t.push('.');
                push_uint(t, rng.below(256));
            }
        });
        let accept_language = text.span(|t| {
            t.push_str(lang);
            t.push_str(",en;q=0.9");
        });

        let mut experiments = [("", 0u8); MAX_EXPERIMENTS];
        let n_experiments = rng.between(3, MAX_EXPERIMENTS as u64) as usize;
        let mut chosen = 0;
        while chosen < n_experiments {
            let name = self.dicts.experiments.sample(rng).as_str();
            // A map has distinct keys: redraw a name already chosen.
            if experiments[..chosen].iter().all(|&(n, _)| n != name) {
                experiments[chosen] = (name, rng.below(3) as u8);
                chosen += 1;
            }
        }
        let mut warnings = [""; MAX_WARNINGS];
        for warning in &mut warnings[..nr_warnings as usize] {
            *warning = self.dicts.warnings.sample(rng).as_str();
        }

        Web {
            subtype,
            pid,
            persona,
            action: Action {
                name,
                is_normal_user,
                is_robot,
                is_internal,
                pageview_id,
                session_id,
                lang,
                currency,
                country,
                affiliate_id,
                user_id,
                stage,
                ab_seed,
            },
            tuning: Tuning {
                the_request,
                bytes_body,
                bytes_header,
                wallclock,
                utime,
                stime,
                nr_warnings,
                nr_queries,
                nr_memcached,
                db_time,
                memcached_time,
                template_time,
                rss_mb,
                gc_count,
                status,
            },
            http: Http {
                method,
                referer,
                user_agent,
                ip,
                accept_language,
            },
            experiments,
            n_experiments,
            warnings,
            text: text.0,
        }
    }

    /// Empty (35%), a search engine's results page (15%), or one of our own pages (50%).
    fn push_referer(&self, t: &mut String, rng: &mut Rng, lang: &str, affiliate_id: u64) {
        match rng.below(20) {
            0..=6 => {}
            7..=9 => {
                t.push_str("https://www.google.");
                t.push_str(rng.pick(SEARCH_TLDS));
                t.push_str("/search?q=");
                t.push_str(rng.pick(WORDS));
                t.push('+');
                t.push_str(rng.pick(WORDS));
                t.push_str("+hotels");
            }
            _ => {
                t.push_str("https://www.epochd.example/");
                t.push_str(self.dicts.pages.sample(rng));
                t.push('.');
                t.push_str(lang);
                t.push_str(".html?aid=");
                push_uint(t, affiliate_id);
                t.push_str(";srpvid=");
                rng.push_hex(t, 16);
            }
        }
    }
}

impl std::fmt::Debug for Model {
    /// A summary: the dictionaries are thousands of strings.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("seed", &self.seed)
            .field("dcs", &self.sites.len())
            .finish_non_exhaustive()
    }
}

/// The start of the request line: method, page, affiliate and a tracking label of random
/// length (which spreads the lines' lengths as real ones are spread).
fn push_request_head(
    t: &mut String,
    rng: &mut Rng,
    method: &str,
    name: &str,
    is_ajax: bool,
    lang: &str,
    affiliate_id: u64,
) {
    t.push_str(method);
    t.push_str(" /");
    t.push_str(name);
    t.push('.');
    t.push_str(lang);
    t.push_str(if is_ajax { ".json?aid=" } else { ".html?aid=" });
    push_uint(t, affiliate_id);
    t.push_str(";label=gen173nr-");
    for _ in 0..rng.between(12, 62) {
        t.push(char::from(rng.pick(&LABEL_CHARS[..])));
    }
}

/// The rest of the request line after the session id: optional search parameters.
fn push_request_tail(t: &mut String, rng: &mut Rng) {
    if rng.chance(0.7) {
        t.push_str(";dest_id=-");
        push_uint(t, rng.between(1, 3_000_000));
        t.push_str(";dest_type=");
        t.push_str(rng.pick(DEST_TYPES));
    }
    if rng.chance(0.6) {
        // Check-in in 2025, checkout 1..7 nights later, both inside the year.
        let checkin = rng.below(358) as u32;
        let checkout = checkin + rng.between(1, 7) as u32;
        t.push_str(";checkin=");
        push_date(t, checkin);
        t.push_str(";checkout=");
        push_date(t, checkout);
    }
    if rng.chance(0.65) {
        t.push_str(";group_adults=");
        push_uint(t, rng.between(1, 4));
        t.push_str(";group_children=");
        push_uint(t, rng.between(0, 2));
        t.push_str(";no_rooms=");
        push_uint(t, rng.between(1, 3));
    }
    if rng.chance(0.5) {
        t.push_str(";srpvid=");
        rng.push_hex(t, 16);
    }
    if rng.chance(0.3) {
        t.push_str(";order=");
        t.push_str(rng.pick(ORDERS));
    }
    t.push_str(" HTTP/1.1");
}

/// `2025-MM-DD` for a day of the (non-leap) year counted from 0.
fn push_date(t: &mut String, day_of_year: u32) {
    let month = MONTH_STARTS.partition_point(|&start| start <= day_of_year);
    let day = day_of_year - MONTH_STARTS[month - 1] + 1;
    t.push_str("2025-");
    push_two_digits(t, month as u32);
    t.push('-');
    push_two_digits(t, day);
}

fn push_two_digits(t: &mut String, v: u32) {
    debug_assert!(v < 100);
    t.push(char::from(b'0' + (v / 10) as u8));
    t.push(char::from(b'0' + (v % 10) as u8));
}

fn push_uint(t: &mut String, v: u64) {
    t.push_str(decimal(v, &mut [0; 20]));
}

/// Rounds to a whole number of millionths.
///
/// Why: the result is the f64 nearest to a short decimal, so its JSON text is short and
/// reads back as exactly the same f64 under any reader, including serde_json's default
/// (not correctly rounded for 17-digit inputs) parser. That keeps the JSON and
/// MessagePack encodings of an event equal after decoding.
fn round_to_micros(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Timestamp offset of event `index` of `count`: the epoch's second is cut into `count`
/// equal slots and the event lands at a random point of its own slot, so timestamps are
/// random yet non-decreasing in index order, with no sorting and no look at other events.
fn stratified_micros(index: usize, count: usize, jitter: u64) -> u32 {
    debug_assert!(index < count && jitter < 1_000_000);
    let at = (index as u128 * 1_000_000 + u128::from(jitter)) / count as u128;
    at as u32
}

/// The per-event string buffer, handing out spans of what each closure appended.
struct Text(String);

impl Text {
    fn span(&mut self, fill: impl FnOnce(&mut Text)) -> Span {
        let start = self.0.len() as u32;
        fill(self);
        Span {
            start,
            end: self.0.len() as u32,
        }
    }

    /// Appends a copy of an earlier span.
    fn copy_span(&mut self, span: Span) {
        for i in span.start..span.end {
            // Spans hold only ASCII, so each byte is a char.
            let byte = self.0.as_bytes()[i as usize];
            self.0.push(char::from(byte));
        }
    }
}

impl Deref for Text {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl DerefMut for Text {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_by_month_and_day() {
        for (day, expect) in [(0, "2025-01-01"), (31, "2025-02-01"), (364, "2025-12-31")] {
            let mut t = String::new();
            push_date(&mut t, day);
            assert_eq!(t, expect);
        }
    }

    #[test]
    fn stratified_timestamps_are_ordered_and_inside_the_second() {
        for count in [1, 7, 1000, 3_000_000] {
            let last = stratified_micros(count - 1, count, 999_999);
            assert!(last < 1_000_000);
            for i in 1..count.min(2000) {
                assert!(stratified_micros(i - 1, count, 999_999) <= stratified_micros(i, count, 0));
            }
        }
    }

    #[test]
    fn rounded_floats_print_as_short_decimals() {
        let x = round_to_micros(0.1234567891);
        assert_eq!(serde_json::to_string(&x).unwrap(), "0.123457");
    }
}
