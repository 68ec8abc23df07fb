//! The integration-test binary: the fake GitHub, scripted scenarios, real reference data and the
//! real `swegym-build` binary.

mod architecture;
mod build;
mod cli;
mod e2e;
mod evaluate;
mod import;
mod lite_reference;
mod mine;
mod pin;
mod report;
mod serve;
mod support;
mod swarm;
