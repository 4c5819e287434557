//! orderflow: provision and operate an event-driven order pipeline from `pipeline.yaml`.
//!
//! Data path: [`spec`] (parse + validate) → [`graph`] (resources and edges) → [`plan`]
//! (desired vs actual) → [`apply`] (ordered, concurrent). Each kind of declaration is one module
//! under [`kinds`] (spec section, graph resources, access verbs, providers); [`resources`] is
//! the provider interface the engine talks to. [`commands`] holds one file per CLI command.

pub mod apply;
pub mod aws;
pub mod build;
pub mod cli;
pub mod commands;
pub mod diagram;
pub mod error;
pub mod graph;
pub mod identity;
pub mod kinds;
pub mod local;
pub mod lock;
pub mod operations;
pub mod plan;
pub mod progress;
pub mod resources;
pub mod retry;
pub mod spec;

pub use error::{Error, Result};
