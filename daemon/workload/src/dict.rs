//! The dictionaries events draw their strings from, built once per `Workload`.
//!
//! Only short seed lists are typed in; the large dictionaries (pages, user agents,
//! warnings, experiments, hosts) are composed from them by a generator with a fixed seed.
//! The seed is deliberately not the workload's seed: every seed sees the same vocabulary
//! (the same 3000 experiment names, the same hosts), so a job written against one run's
//! names works on every run, and only the event stream varies with the seed.

use std::collections::HashSet;

use crate::dist::ZipfDict;
use crate::rng::Rng;

/// Seed of the dictionary generator. Changing it changes every benchmark's input.
const DICT_SEED: u64 = 0x6570_6f63_6864_6963; // "epochdic"

/// Number of `app-NNN` web hosts per data center.
pub(crate) const WEB_HOSTS_PER_DC: u32 = 900;
/// Number of `avc-N` availability hosts per data center.
pub(crate) const AV_HOSTS_PER_DC: u32 = 400;

/// Words that page names, experiment names, labels and search queries are built from.
pub(crate) const WORDS: &[&str] = &[
    "hotel",
    "apartment",
    "villa",
    "hostel",
    "resort",
    "beach",
    "city",
    "airport",
    "family",
    "luxury",
    "budget",
    "romantic",
    "spa",
    "pool",
    "breakfast",
    "parking",
    "wifi",
    "pets",
    "ski",
    "lake",
    "mountain",
    "center",
    "harbour",
    "garden",
    "castle",
    "canal",
    "museum",
    "market",
    "station",
    "bridge",
    "river",
    "island",
    "desert",
    "forest",
    "village",
    "tower",
    "palace",
    "square",
    "park",
    "lodge",
    "cabin",
    "cottage",
    "chalet",
    "inn",
    "suite",
    "studio",
    "loft",
    "terrace",
    "view",
    "sunset",
    "ocean",
    "coast",
    "valley",
    "summit",
    "meadow",
    "vineyard",
    "bay",
    "cliff",
    "dune",
    "reef",
];

/// The most visited pages, most common first; the rest of the 300 are composed.
const TOP_PAGES: &[&str] = &[
    "index",
    "searchresults",
    "hotel",
    "book",
    "confirmation",
    "myreservations",
    "mybooking",
    "country",
    "city",
    "region",
    "landmark",
    "airport",
    "district",
    "reviews",
    "review",
    "genius",
    "deals",
    "wishlist",
    "account",
    "signin",
    "register",
    "help",
    "customer_service",
    "cancel",
    "modify",
    "payment",
    "invoice",
    "pricing",
    "compare",
    "map",
];
const PAGE_SUFFIXES: &[&str] = &[
    "list", "detail", "overview", "guide", "landing", "deals", "search", "photos",
];
const TOP_AJAX: &[&str] = &[
    "ajax_availability",
    "ajax_prices",
    "ajax_photos",
    "ajax_reviews",
    "ajax_map_markers",
    "ajax_autocomplete",
    "ajax_wishlist_toggle",
    "ajax_room_info",
    "ajax_policies",
    "ajax_facilities",
];
const AJAX_SUFFIXES: &[&str] = &[
    "info", "block", "list", "count", "markers", "status", "price", "check",
];
const PAGES: usize = 200;
const AJAX_PAGES: usize = 100;

/// 40 language tags, most common first.
const LANGS: &str = "en-gb en-us de nl fr es it pt-pt pt-br ru pl sv da no fi cs hu ro tr el \
    ja zh-cn zh-tw ko ar he th id ms vi uk bg hr sk sl sr lt lv et ca";
/// 20 currencies, most common first.
const CURRENCIES: &str =
    "EUR USD GBP JPY CNY AUD CAD CHF SEK NOK DKK PLN CZK HUF RUB TRY BRL INR KRW HKD";
/// 80 ISO 3166 country codes, most common first.
const COUNTRIES: &str = "us gb de nl fr es it pt ru pl se dk no fi cz hu ro tr gr jp cn tw kr \
    ae il th id my vn ua bg hr sk si rs lt lv ee be at ch ie lu is mt cy br ar mx cl co pe ca \
    au nz za eg ma tn ke ng in pk bd lk sg ph hk mo sa qa kw om jo lb ge am az kz by";

/// User-agent parts. Real browsers' strings are these templates with a platform and a
/// version filled in; composing them gives realistic lengths (~110-140 bytes).
const DESKTOPS: &[&str] = &[
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "Windows NT 6.1; Win64; x64",
];
const ANDROIDS: &[&str] = &[
    "Linux; Android 14; SM-S918B",
    "Linux; Android 13; Pixel 7",
    "Linux; Android 10; K",
    "Linux; Android 12; SM-A525F",
];
const IOSES: &[&str] = &[
    "iPhone; CPU iPhone OS 17_4 like Mac OS X",
    "iPhone; CPU iPhone OS 16_6 like Mac OS X",
    "iPad; CPU OS 17_2 like Mac OS X",
];
const BOTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
];
const USER_AGENTS: usize = 60;

/// Perl-style warning templates (the reference system's web tier was Perl); the
/// `{var}`, `{Mod}`, `{hex}`, `{path}` and `{line}` holes are filled in by `warning_lines`.
const WARNING_TEMPLATES: &[&str] = &[
    "Use of uninitialized value ${var} in concatenation (.) or string at {path} line {line}.",
    "Use of uninitialized value in numeric eq (==) at {path} line {line}.",
    "Argument \"{var}\" isn't numeric in addition (+) at {path} line {line}.",
    "Odd number of elements in hash assignment at {path} line {line}.",
    "Deprecated call to Site::{Mod}::render, use render_page instead at {path} line {line}.",
    "Memcached get timed out after 50ms for key {var}:{hex} at {path} line {line}.",
];
const WARNINGS: usize = 100;

const EXPERIMENTS: usize = 3000;

/// Every dictionary an event draws from, each ordered most common first.
#[derive(Clone, Debug)]
pub(crate) struct Dicts {
    pub(crate) pages: ZipfDict<String>,
    pub(crate) ajax_pages: ZipfDict<String>,
    pub(crate) langs: ZipfDict<&'static str>,
    pub(crate) currencies: ZipfDict<&'static str>,
    pub(crate) countries: ZipfDict<&'static str>,
    pub(crate) user_agents: ZipfDict<String>,
    pub(crate) warnings: ZipfDict<String>,
    pub(crate) experiments: ZipfDict<String>,
}

impl Dicts {
    pub(crate) fn new() -> Self {
        let mut rng = Rng::new(DICT_SEED);
        let (pages, ajax_pages) = page_names(&mut rng);
        Dicts {
            pages: ZipfDict::new(pages),
            ajax_pages: ZipfDict::new(ajax_pages),
            langs: ZipfDict::new(LANGS.split_whitespace().collect()),
            currencies: ZipfDict::new(CURRENCIES.split_whitespace().collect()),
            countries: ZipfDict::new(COUNTRIES.split_whitespace().collect()),
            user_agents: ZipfDict::new(user_agents(&mut rng)),
            warnings: ZipfDict::new(warning_lines(&mut rng)),
            experiments: ZipfDict::new(experiment_names(&mut rng)),
        }
    }
}

/// Collects `n` distinct strings from `make`, in the order first produced.
fn distinct(n: usize, seed_items: &[&str], mut make: impl FnMut() -> String) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let candidates = seed_items.iter().map(|s| s.to_string());
    for item in candidates.chain(std::iter::repeat_with(&mut make)) {
        if out.len() == n {
            break;
        }
        if seen.insert(item.clone()) {
            out.push(item);
        }
    }
    out
}

/// 200 page names and 100 `ajax_*` names (300 in all), each most common first.
fn page_names(rng: &mut Rng) -> (Vec<String>, Vec<String>) {
    let pages = distinct(PAGES, TOP_PAGES, || {
        format!("{}_{}", rng.pick(WORDS), rng.pick(PAGE_SUFFIXES))
    });
    let ajax = distinct(AJAX_PAGES, TOP_AJAX, || {
        format!("ajax_{}_{}", rng.pick(WORDS), rng.pick(AJAX_SUFFIXES))
    });
    (pages, ajax)
}

/// 60 user agents: desktop and mobile browsers in several versions, and a few crawlers.
fn user_agents(rng: &mut Rng) -> Vec<String> {
    distinct(USER_AGENTS, &[], || {
        let chrome = rng.between(118, 124);
        let firefox = rng.between(115, 125);
        let safari = format!("{}.{}", rng.between(16, 17), rng.between(0, 4));
        match rng.below(16) {
            0..=5 => format!(
                "Mozilla/5.0 ({}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 \
                 Safari/537.36",
                rng.pick(DESKTOPS)
            ),
            6..=8 => format!(
                "Mozilla/5.0 ({}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{safari} \
                 Mobile/15E148 Safari/604.1",
                rng.pick(IOSES)
            ),
            9..=10 => format!(
                "Mozilla/5.0 ({}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 \
                 Mobile Safari/537.36",
                rng.pick(ANDROIDS)
            ),
            11..=12 => format!(
                "Mozilla/5.0 ({}; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0",
                rng.pick(DESKTOPS)
            ),
            13 => format!(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, \
                 like Gecko) Version/{safari} Safari/605.1.15"
            ),
            14 => format!(
                "Mozilla/5.0 ({}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 \
                 Safari/537.36 Edg/{chrome}.0.{}.{}",
                rng.pick(DESKTOPS),
                rng.between(2000, 2500),
                rng.between(10, 99)
            ),
            _ => rng.pick(BOTS).to_string(),
        }
    })
}

/// A Perl module path such as `/usr/local/app/lib/Site/Hotel/Garden.pm`.
fn module_path(rng: &mut Rng) -> String {
    format!(
        "/usr/local/app/lib/Site/{}/{}.pm",
        capitalise(rng.pick(WORDS)),
        capitalise(rng.pick(WORDS))
    )
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// 100 warning lines. One template contains double quotes, so JSON escaping is exercised.
fn warning_lines(rng: &mut Rng) -> Vec<String> {
    distinct(WARNINGS, &[], || {
        let template = rng.pick(WARNING_TEMPLATES);
        let word = rng.pick(WORDS);
        let mut hex = String::new();
        rng.push_hex(&mut hex, 8);
        template
            .replace("{var}", word)
            .replace("{Mod}", &capitalise(word))
            .replace("{hex}", &hex)
            .replace("{path}", &module_path(rng))
            .replace("{line}", &rng.between(20, 2400).to_string())
    })
}

/// 3000 experiment names `exp_<word>_<hex6>`.
fn experiment_names(rng: &mut Rng) -> Vec<String> {
    distinct(EXPERIMENTS, &[], || {
        let mut name = format!("exp_{}_", rng.pick(WORDS));
        rng.push_hex(&mut name, 6);
        name
    })
}

/// One data center's host names.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub(crate) name: String,
    /// `app-001.<dc>.prod.epochd.internal` ..= `app-900...`
    pub(crate) web_hosts: Vec<String>,
    /// `avc-1.<dc>` ..= `avc-400.<dc>`
    pub(crate) av_hosts: Vec<String>,
}

impl Site {
    pub(crate) fn new(name: &str) -> Self {
        Site {
            name: name.to_string(),
            web_hosts: (1..=WEB_HOSTS_PER_DC)
                .map(|n| format!("app-{n:03}.{name}.prod.epochd.internal"))
                .collect(),
            av_hosts: (1..=AV_HOSTS_PER_DC)
                .map(|n| format!("avc-{n}.{name}"))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_have_the_sizes_of_the_reference() {
        let d = Dicts::new();
        assert_eq!(d.pages.items().len() + d.ajax_pages.items().len(), 300);
        assert!(d.ajax_pages.items().iter().all(|p| p.starts_with("ajax_")));
        assert!(!d.pages.items().iter().any(|p| p.starts_with("ajax_")));
        assert_eq!(d.langs.items().len(), 40);
        assert_eq!(d.currencies.items().len(), 20);
        assert_eq!(d.countries.items().len(), 80);
        assert_eq!(d.user_agents.items().len(), 60);
        assert_eq!(d.warnings.items().len(), 100);
        assert_eq!(d.experiments.items().len(), 3000);
        let unique = |v: &[&str]| v.iter().collect::<HashSet<_>>().len() == v.len();
        assert!(unique(d.langs.items()));
        assert!(unique(d.currencies.items()));
        assert!(unique(d.countries.items()));
    }

    #[test]
    fn dictionaries_do_not_depend_on_anything_but_the_code() {
        let (a, b) = (Dicts::new(), Dicts::new());
        assert_eq!(a.experiments.items(), b.experiments.items());
        assert_eq!(a.user_agents.items(), b.user_agents.items());
        assert_eq!(a.warnings.items(), b.warnings.items());
    }

    #[test]
    fn warning_lines_have_no_unfilled_holes() {
        let d = Dicts::new();
        for w in d.warnings.items() {
            assert!(!w.contains('{'), "{w}");
            assert!(w.contains(".pm line "), "{w}");
        }
    }

    #[test]
    fn sites_have_the_reference_host_counts() {
        let s = Site::new("ams4");
        assert_eq!(s.web_hosts.len(), 900);
        assert_eq!(s.web_hosts[41], "app-042.ams4.prod.epochd.internal");
        assert_eq!(s.av_hosts.len(), 400);
        assert_eq!(s.av_hosts[399], "avc-400.ams4");
    }
}
