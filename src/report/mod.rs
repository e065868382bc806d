//! What a run tells the user: the summary table with its plain-words warnings, and the files it leaves
//! (CmdStan-compatible CSV per chain, a JSON summary).

pub mod compare;
pub mod csv;
pub mod draws;
pub mod modalities;
pub mod progress;
pub mod rows;
pub mod summary;
