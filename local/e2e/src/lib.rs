//! Helpers for the end-to-end tests: the local env file, the stack's lifecycle, the emulator
//! binaries, the functions' processes, and independent readers of the topic (rdkafka) and of the lake (S3 API + the
//! Parquet reader), so that every check compares what the pipeline did with what it was fed.

pub mod env_file;
pub mod lake;
pub mod process;
pub mod registry;
pub mod runtime_api;
pub mod scenarios;
pub mod stack;
pub mod table_readers;
pub mod tools;
pub mod topic;
