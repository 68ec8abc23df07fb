//! `swegym-build worker`: one unit of work of `--executor swarm`, on the engine of the node the
//! task was placed on. The result (or why there is none) is printed for the coordinator, which
//! reads it from the service's logs.

use crate::cancel::Cancel;
use crate::docker::Engine;
use crate::error::Exit;
use crate::executor::wire::Outcome;
use crate::executor::worker::{envelope_from_env, print_result, serve};
use crate::executor::{Job, RunJob};
use crate::image::ImageJob;

pub(super) async fn run() -> Exit {
    let cancel = Cancel::new();
    cancel.cancel_on_ctrl_c();
    cancel.cancel_on_terminate();
    let fail = |e: String| {
        print_result(&Outcome::<()>::Err(e));
        Exit::Failed
    };
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            return fail(format!("the worker cannot reach its node's engine (is /var/run/docker.sock mounted?): {e}"))
        }
    };
    let envelope = match envelope_from_env(&engine).await {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    // A job that failed still printed its result: the task itself succeeded.
    match envelope.kind.as_str() {
        RunJob::KIND => {
            serve::<RunJob>(&engine, envelope, &cancel).await;
        }
        ImageJob::KIND => {
            serve::<ImageJob>(&engine, envelope, &cancel).await;
        }
        other => {
            return fail(format!(
                "this worker does not know jobs of kind {other:?}: the worker image and the coordinator are different versions"
            ))
        }
    }
    Exit::Ok
}
