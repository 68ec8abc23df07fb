//! A cancellation signal shared by the stages (Ctrl-C, or a test that stops a run midway).

use tokio::sync::watch;

/// Cloneable; cancelling one clone cancels all.
#[derive(Debug, Clone)]
pub struct Cancel {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self { tx: std::sync::Arc::new(tx), rx }
    }

    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once cancelled (at once if already).
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        // An error means every sender is gone: nobody can cancel any more.
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Cancels on the first Ctrl-C (SIGINT). A second Ctrl-C is left to the default handler only
    /// after this task ends, so in-flight writes can still be flushed.
    pub fn cancel_on_ctrl_c(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("interrupted: finishing the writes in progress, then stopping");
                me.cancel();
            }
        });
    }
}

impl Cancel {
    /// Also cancels on SIGTERM (a swarm task being stopped: its containers are removed first).
    pub fn cancel_on_terminate(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            if term.recv().await.is_some() {
                tracing::warn!("terminated: removing this task's containers, then stopping");
                me.cancel();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancelled_resolves_for_every_clone() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        b.cancelled().await;
        assert!(b.is_cancelled());
    }
}
