//! The public front: configuration, the shared `Workload`, and per-epoch generation.

use std::iter::FusedIterator;
use std::sync::Arc;

use crate::event::Event;
use crate::gen::Model;

/// What to generate: the seed, the data centers and the share of web events.
///
/// The default is the reference mix of docs/WORKLOAD.md, seed 42.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadConfig {
    /// Seed of the event stream. Default 42. Dictionaries (page names, experiment names,
    /// hosts, ...) do not depend on it; only which values events draw from them does.
    pub seed: u64,
    /// Data center names with their relative weights. Default ams4 3, ams5 2, lhr4 1,
    /// fra3 1 (i.e. 3/7, 2/7, 1/7, 1/7 of the events).
    pub dcs: Vec<(String, u32)>,
    /// Fraction of events that are WEB (the rest are AV), in [0, 1]. Default 0.4.
    pub web_share: f64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            seed: 42,
            dcs: [("ams4", 3), ("ams5", 2), ("lhr4", 1), ("fra3", 1)]
                .into_iter()
                .map(|(dc, w)| (dc.to_string(), w))
                .collect(),
            web_share: 0.4,
        }
    }
}

impl WorkloadConfig {
    /// Checks the config without building anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dcs.iter().all(|&(_, w)| w == 0) {
            return Err(ConfigError::NoDataCenter);
        }
        for (i, (name, _)) in self.dcs.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::EmptyDcName);
            }
            if self.dcs[..i].iter().any(|(other, _)| other == name) {
                return Err(ConfigError::DuplicateDc(name.clone()));
            }
        }
        if !(0.0..=1.0).contains(&self.web_share) {
            return Err(ConfigError::WebShare(self.web_share));
        }
        Ok(())
    }
}

/// Why a [`WorkloadConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `dcs` is empty or all its weights are zero, so no event could be placed.
    #[error("no data center with a positive weight: list at least one, e.g. ams4:3")]
    NoDataCenter,
    /// A data center has an empty name, which would make empty `dc` fields and host names.
    #[error("a data center name is empty: give every data center a name")]
    EmptyDcName,
    /// The same data center is listed twice.
    #[error("data center {0:?} is listed twice: list each once and add up its weights")]
    DuplicateDc(String),
    /// `web_share` is outside [0, 1] (or NaN).
    #[error("web share {0} is not a fraction: use a number from 0 to 1 (the reference is 0.4)")]
    WebShare(f64),
}

/// Output encoding of [`Workload::encode_epoch`] and [`Event::write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// One MessagePack map per event, concatenated.
    MsgPack,
    /// One JSON object per line, each line ending in `\n`.
    Ndjson,
}

/// A deterministic generator of the reference workload.
///
/// Building one makes the dictionaries (a few milliseconds); after that it is read-only:
/// clone it (an `Arc` bump) or share `&Workload` between threads.
///
/// Guarantee: event `i` of `workload.epoch(e, n)` is a pure function of the config, `e`,
/// `i` and (for its timestamp only) `n`. The same inputs give byte-identical encodings
/// on every run of the same build; see the crate docs for what may change them.
#[derive(Clone, Debug)]
pub struct Workload {
    model: Arc<Model>,
    config: Arc<WorkloadConfig>,
}

impl Workload {
    /// Builds a workload.
    ///
    /// # Panics
    /// If `config` is invalid (see [`WorkloadConfig::validate`]); use
    /// [`Workload::try_new`] for configs that come from users.
    pub fn new(config: WorkloadConfig) -> Workload {
        match Workload::try_new(config) {
            Ok(workload) => workload,
            Err(e) => panic!("invalid workload config: {e}"),
        }
    }

    /// Builds a workload, or says what is wrong with `config`.
    pub fn try_new(config: WorkloadConfig) -> Result<Workload, ConfigError> {
        config.validate()?;
        Ok(Workload {
            model: Arc::new(Model::new(&config)),
            config: Arc::new(config),
        })
    }

    /// The config this workload was built from.
    pub fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    /// The `count` events of second `epoch`, in timestamp order (non-decreasing, all
    /// inside `[epoch, epoch + 1)`), spread over all data centers.
    ///
    /// Generating epoch 5 does not generate epochs 0..4, and skipping with
    /// [`Iterator::nth`] does not generate the skipped events.
    pub fn epoch(&self, epoch: u64, count: usize) -> EpochEvents<'_> {
        EpochEvents {
            model: &self.model,
            epoch,
            next: 0,
            count,
        }
    }

    /// The `count` events of `epoch`, encoded in `format` and concatenated.
    pub fn encode_epoch(&self, epoch: u64, count: usize, format: Format) -> Vec<u8> {
        // Averages are ~584 B (MessagePack) and ~686 B (JSON); a little headroom avoids
        // a final reallocation that would copy the whole epoch.
        let per_event = match format {
            Format::MsgPack => 600,
            Format::Ndjson => 710,
        };
        let mut out = Vec::with_capacity(count.saturating_mul(per_event));
        for event in self.epoch(epoch, count) {
            event.write(format, &mut out);
        }
        out
    }
}

/// The events of one epoch, generated lazily in timestamp order.
///
/// Returned by [`Workload::epoch`]. Each event is generated from its own coordinates, so
/// skipping (`nth`, `skip`) costs nothing for the skipped events, and one epoch can be
/// split across threads with `skip(start).take(len)`.
#[derive(Clone, Debug)]
pub struct EpochEvents<'w> {
    model: &'w Model,
    epoch: u64,
    /// Next index to yield.
    next: usize,
    /// Events in the epoch; also fixes every event's timestamp slot.
    count: usize,
}

impl<'w> Iterator for EpochEvents<'w> {
    type Item = Event<'w>;

    fn next(&mut self) -> Option<Event<'w>> {
        if self.next >= self.count {
            return None;
        }
        let event = self.model.event(self.epoch, self.count, self.next);
        self.next += 1;
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<Event<'w>> {
        self.next = self.next.saturating_add(n).min(self.count);
        self.next()
    }
}

impl ExactSizeIterator for EpochEvents<'_> {}

impl FusedIterator for EpochEvents<'_> {}
