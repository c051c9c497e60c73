//! Helpers shared by the fuzz targets (`fuzz_targets/`); see README.md.

pub mod abi_ops;
pub mod driver;
pub mod epoch_check;
