//! The daemon: `daned serve` from start to stop. Loads and signs every zone, binds the
//! sockets ([`crate::serve`]), starts the manager ([`crate::events`]), the secondaries' tasks
//! ([`crate::secondaries`]), the certificate watcher, the control socket and the metrics
//! listener, and routes signals (SIGHUP reloads, SIGTERM/SIGINT stop).
//!
//! A reload that changes the configuration reaches the tasks that follow it through
//! `follow_config`: the handler (TSIG keys, transfer ACLs, UDP payload cap) is replaced whole,
//! the NOTIFY and SOA poll tasks restart with the new secondaries, and the certificate watcher
//! restarts with the new set of files.

pub mod privileges;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::Config;
use crate::events::manager::{Command, Manager};
use crate::secondaries::report::SecondaryReport;
use crate::serve::cookie::CookieSecrets;
use crate::serve::handler::Handler;
use crate::serve::query::Catalog;
use crate::serve::rrl::RateLimiter;
use crate::serve::tcp::ConnectionLimits;
use crate::serve::{
    BindError, bind_all, raise_descriptor_limit, serve_sockets_with, tcp_connection_cap,
};
use crate::zone::ZoneError;

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A zone could not be loaded or signed.
    #[error(transparent)]
    Zone(#[from] ZoneError),
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The certificate watcher could not start.
    #[error("certificate watcher")]
    Watch(#[from] crate::events::watch::WatchError),
    /// The control socket could not be created.
    #[error("control socket")]
    Control(#[from] crate::control::ControlError),
    /// The control socket's directory could not be created.
    #[error("creating the directory {} of the control socket", path.display())]
    SocketDirectory {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The configured user could not be switched to.
    #[error(transparent)]
    Privileges(#[from] privileges::PrivilegeError),
}

/// `daned serve`: loads and signs every zone, binds, serves, reloads on SIGHUP, renews
/// signatures before they expire, stops on SIGTERM or SIGINT.
///
/// # Errors
///
/// A zone that cannot be loaded at start, an address that cannot be bound.
pub async fn run(config: Config, clock: Arc<dyn Clock>) -> Result<(), DaemonError> {
    let descriptors = raise_descriptor_limit();
    let net = &config.server.net;
    let tcp_cap = tcp_connection_cap(net.tcp_max_clients, descriptors);
    if net
        .tcp_max_clients
        .is_some_and(|c| usize::try_from(c).is_ok_and(|c| c > tcp_cap))
    {
        tracing::warn!(
            configured = net.tcp_max_clients,
            cap = tcp_cap,
            descriptors,
            "tcp-max-clients lowered to keep a reserve of descriptors"
        );
    }
    let limits = ConnectionLimits::new(
        tcp_cap,
        usize::try_from(net.tcp_max_clients_per_address).unwrap_or(usize::MAX),
    );
    let rrl = RateLimiter::new(net).map(Arc::new);
    let cookies = Arc::new(CookieSecrets::generate(clock.unix_time()));
    tracing::info!(
        descriptors,
        tcp_max_clients = tcp_cap,
        tcp_max_clients_per_address = net.tcp_max_clients_per_address,
        rate_limit = net.rate_limit,
        rate_limit_slip = net.rate_limit_slip,
        "network limits"
    );
    crate::metrics::set_net_counters(crate::metrics::NetCounters {
        rrl: rrl.clone(),
        tcp: limits.clone(),
    });
    let run_as = crate::daemon::privileges::RunAs::resolve(
        config.server.user.as_deref(),
        config.server.group.as_deref(),
    )?;
    let switch = match &run_as {
        Some(run_as) => run_as.must_switch()?,
        None => false,
    };
    // Everything that can fail for a reason outside daned (a port in use, a daemon already
    // running) is tried before anything is written: a failed start leaves no state, key or
    // socket behind. Ports below 1024 need root or CAP_NET_BIND_SERVICE, so binding also comes
    // before the switch to the configured user.
    let udp_workers = net
        .udp_workers
        .unwrap_or_else(crate::serve::default_udp_workers);
    let sockets = bind_all(&config.server.listen, udp_workers).await?;
    let metrics = match config.server.metrics_listen {
        Some(addr) => Some(
            crate::metrics::bind_metrics(addr)
                .await
                .map_err(|source| DaemonError::from(BindError { addr, source }))?,
        ),
        None => None,
    };
    // The socket lives in state-dir by default, which the first start creates; one made here
    // as root goes to the configured user, who writes the state into it.
    if let Some(dir) = config.server.control_socket.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(|source| DaemonError::SocketDirectory {
            path: dir.to_path_buf(),
            source,
        })?;
        if let Some(run_as) = run_as.as_ref().filter(|_| switch) {
            run_as.give(dir)?;
        }
    }
    let control =
        crate::control::bind_control(&config.server.control_socket, config.server.control_mode)
            .await?;
    let (commands, receiver) = mpsc::channel(16);
    let started = match (&run_as, switch) {
        (Some(run_as), true) => run_as
            .give(&config.server.control_socket)
            .and_then(|()| run_as.switch())
            .map_err(DaemonError::from),
        _ => Ok(()),
    }
    .and_then(|()| {
        tokio::task::block_in_place(|| Manager::start(&config, Arc::clone(&clock)))
            .map_err(DaemonError::from)
    });
    let mut manager = match started {
        Ok(manager) => manager,
        Err(error) => {
            // Removes the control socket file it created (a shutdown that has already come).
            control
                .serve(
                    commands,
                    std::future::ready(()),
                    crate::control::ControlOptions::default(),
                )
                .await;
            return Err(error);
        }
    };
    let snapshot = manager.snapshot();
    let control = control.with_snapshot(snapshot.clone());
    let published = manager.subscribe();
    let configs = manager.subscribe_config();
    let reports = manager.secondary_reports();
    let secondaries = SecondaryTasks::spawn(&config, &published, &reports, &clock);
    // The watcher reports changes after start; the manager has just read every file.
    let watched = manager.watched_files();
    let watcher = crate::events::watch::CertWatcher::start(
        watched.clone(),
        config.server.watch_debounce,
        config.server.rescan_interval,
    )?;
    let (changed_sender, changed_files) = mpsc::channel(64);
    let manager_task = tokio::spawn(manager.run(receiver, Some(changed_files)));
    let signals = tokio::spawn(forward_signals(commands.clone()));
    let (stop_control, control_stopped) = tokio::sync::oneshot::channel::<()>();
    let control_task = tokio::spawn(control.serve(
        commands.clone(),
        async move {
            // Either a send or the sender's drop ends the control socket.
            let _ = control_stopped.await;
        },
        crate::control::ControlOptions::default(),
    ));
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = metrics.map(|listener| {
        tokio::spawn(crate::metrics::serve_metrics(
            listener,
            commands.clone(),
            async move {
                let _ = metrics_stopped.await;
            },
        ))
    });
    let handler = Handler::new(snapshot)
        .with_rate_limiter(rrl)
        .with_cookie_secrets(cookies)
        .with_clock(Arc::clone(&clock));
    let follower = tokio::spawn(follow_config(
        configs,
        Followers {
            published,
            reports,
            secondaries,
            watcher: (watcher, watched),
            changed_files: changed_sender,
            clock,
        },
    ));
    // systemd (`Type=notify`): the zones are signed and the sockets bound, queries are
    // answered from here on. Without NOTIFY_SOCKET this does nothing.
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    serve_sockets_with(sockets, handler, limits, async {
        stop_signal().await;
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
    })
    .await;
    // Ends the NOTIFY and SOA poll tasks and the certificate watcher with it.
    follower.abort();
    let _ = follower.await;
    drop(stop_metrics);
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    drop(stop_control);
    // The control socket removes its file on the way out; waiting is bounded by its own
    // connection shutdown.
    let _ = control_task.await;
    signals.abort();
    drop(commands);
    // The manager ends once every sender is gone; it holds nothing that needs flushing (state
    // is written before each version is published).
    manager_task.abort();
    Ok(())
}

/// Tells systemd about the daemon's state when it started daned with `Type=notify`.
fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "could not notify systemd");
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

async fn forward_signals(commands: mpsc::Sender<Command>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload by restarting");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        if commands
            .send(Command::Reload { reply: None })
            .await
            .is_err()
        {
            break;
        }
    }
}

/// The NOTIFY and SOA poll tasks, with what they were started for.
struct SecondaryTasks {
    notify: tokio::task::JoinHandle<()>,
    poll: tokio::task::JoinHandle<()>,
    /// Per zone with secondaries: the secondaries and poll interval; and the TSIG keys.
    setup: SecondarySetup,
}

/// What the NOTIFY and SOA poll tasks depend on in a configuration.
type SecondarySetup = (
    Vec<(
        daned_sign::hickory_proto::rr::Name,
        Vec<crate::config::SecondaryConfig>,
        Duration,
    )>,
    Vec<crate::config::TsigKeyConfig>,
);

fn secondary_setup(config: &Config) -> SecondarySetup {
    (
        config
            .zones
            .iter()
            .filter(|z| !z.secondaries.is_empty())
            .map(|z| {
                (
                    z.origin.clone(),
                    z.secondaries.clone(),
                    z.secondary_poll_interval,
                )
            })
            .collect(),
        config.tsig_keys.clone(),
    )
}

impl SecondaryTasks {
    /// Starts the tasks: NOTIFY for every zone's current serial, then on every change; SOA
    /// polls of every secondary, reporting to the manager on `reports`. Their TSIG time
    /// signed comes from the daemon's `clock` (the system's: the secondaries check it against
    /// theirs).
    fn spawn(
        config: &Config,
        published: &tokio::sync::watch::Receiver<Arc<Catalog>>,
        reports: &mpsc::Sender<SecondaryReport>,
        clock: &Arc<dyn Clock>,
    ) -> Self {
        let poll = tokio::spawn(crate::secondaries::propagation::run(
            published.clone(),
            crate::secondaries::propagation::poll_targets(config),
            crate::secondaries::propagation::PollOptions::default(),
            reports.clone(),
            Arc::clone(clock),
        ));
        let notify = tokio::spawn(crate::secondaries::notify::run(
            published.clone(),
            crate::secondaries::client::targets(config),
            crate::secondaries::notify::Backoff::default(),
            Some(reports.clone()),
            Arc::clone(clock),
        ));
        Self {
            notify,
            poll,
            setup: secondary_setup(config),
        }
    }

    fn abort(&self) {
        self.notify.abort();
        self.poll.abort();
    }
}

impl Drop for SecondaryTasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// What [`follow_config`] keeps up to date.
struct Followers {
    published: tokio::sync::watch::Receiver<Arc<Catalog>>,
    /// Where the NOTIFY and SOA poll tasks report (the manager).
    reports: mpsc::Sender<SecondaryReport>,
    secondaries: SecondaryTasks,
    /// The certificate watcher and the files it watches.
    watcher: (
        (
            crate::events::watch::CertWatcher,
            mpsc::Receiver<crate::events::watch::FileChange>,
        ),
        Vec<PathBuf>,
    ),
    /// Where the changed files go, with the content the watcher read (the manager).
    changed_files: mpsc::Sender<crate::events::watch::FileChange>,
    /// The daemon's one clock (a restarted NOTIFY or SOA poll task reads it too).
    clock: Arc<dyn Clock>,
}

/// Every certificate and next-key file of every zone of `config`.
fn watched_files(config: &Config) -> Vec<PathBuf> {
    config
        .zones
        .iter()
        .flat_map(|z| &z.tlsa)
        .flat_map(|b| &b.certificates)
        .flat_map(|c| std::iter::once(c.file.clone()).chain(c.next_key.clone()))
        .collect()
}

/// Forwards the certificate watcher's changed files to the manager and, on each configuration
/// a reload puts in effect (its TSIG keys, transfer ACLs and UDP payload cap the manager has
/// already published with its zones, in one snapshot): restarts the NOTIFY and SOA poll tasks when the secondaries, their poll intervals or the
/// TSIG keys changed (the new NOTIFY task notifies every secondary of the serial served now);
/// restarts the watcher when the set of files or its timing changed, and then has the manager
/// re-read every watched file once (a change between the reload's read and the new watcher's
/// baseline would otherwise wait for the next change). Ends when the manager or the config
/// channel goes.
async fn follow_config(
    mut configs: tokio::sync::watch::Receiver<Arc<Config>>,
    mut followers: Followers,
) {
    let mut current = Arc::clone(&configs.borrow_and_update());
    loop {
        let ((_, changed), _) = &mut followers.watcher;
        tokio::select! {
            Some(change) = changed.recv() => {
                if followers.changed_files.send(change).await.is_err() {
                    break;
                }
            }
            result = configs.changed() => {
                if result.is_err() {
                    break;
                }
                let new = Arc::clone(&configs.borrow_and_update());
                followers.apply(&current, &new).await;
                current = new;
            }
        }
    }
}

impl Followers {
    async fn apply(&mut self, old: &Config, new: &Config) {
        let setup = secondary_setup(new);
        if setup != self.secondaries.setup {
            tracing::info!("secondaries or TSIG keys changed: NOTIFY and SOA polls restart");
            self.secondaries =
                SecondaryTasks::spawn(new, &self.published, &self.reports, &self.clock);
        }
        let files = watched_files(new);
        let timing = |c: &Config| (c.server.watch_debounce, c.server.rescan_interval);
        if files == self.watcher.1 && timing(old) == timing(new) {
            return;
        }
        let started = tokio::task::block_in_place(|| {
            crate::events::watch::CertWatcher::start(
                files.clone(),
                new.server.watch_debounce,
                new.server.rescan_interval,
            )
        });
        match started {
            Ok(watcher) => {
                tracing::info!(
                    files = files.len(),
                    "certificate watcher restarted for the new set of files"
                );
                let old = std::mem::replace(&mut self.watcher, (watcher, files.clone()));
                // Dropping the watcher joins its thread (one file read at most).
                tokio::task::block_in_place(|| drop(old));
                for path in files {
                    // Read here, after the new watcher's baseline: a later change is its own.
                    let change = tokio::task::block_in_place(|| {
                        crate::events::watch::FileChange::read(&path)
                    });
                    if self.changed_files.send(change).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "certificate watcher not restarted: the files of the new configuration are seen at the next reload only");
            }
        }
    }
}
