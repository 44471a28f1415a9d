//! Running as an unprivileged user: when `daned serve` is started as root without systemd
//! (which starts it as its own user with `CAP_NET_BIND_SERVICE` instead), it binds its
//! sockets, hands the control socket to the configured `[server] user`, then gives up root
//! for good (supplementary groups, group, user, in that order) before it reads a key or
//! writes any state. Everything goes through nix's safe wrappers.
//!
//! # Limitations
//!
//! key-dir and state-dir must already belong to that user (the Debian package and systemd's
//! `StateDirectory=` arrange it); daned does not change the owner of existing files.

use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

/// Why daned could not switch to its configured user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// `server.user` names no user of this system.
    #[error("server.user {user:?}: no such user")]
    UnknownUser {
        /// The configured name.
        user: String,
    },
    /// `server.group` names no group of this system.
    #[error("server.group {group:?}: no such group")]
    UnknownGroup {
        /// The configured name.
        group: String,
    },
    /// The user or group database could not be read.
    #[error("looking up {what} {name:?}: {source}")]
    Lookup {
        /// "user" or "group".
        what: &'static str,
        /// The configured name.
        name: String,
        /// The cause.
        source: nix::Error,
    },
    /// A user is configured, daned runs as another one and is not root.
    #[error(
        "server.user is {user:?}, but daned runs as uid {uid}, which is neither root nor that \
         user: start it as root (it binds, then switches) or remove `user` from [server]"
    )]
    NotRoot {
        /// The configured name.
        user: String,
        /// The uid daned runs as.
        uid: u32,
    },
    /// A step of the switch failed.
    #[error("cannot switch to user {user:?} (uid {uid}, gid {gid}): {step}: {source}")]
    Switch {
        /// The configured name.
        user: String,
        /// Its uid.
        uid: u32,
        /// The group id.
        gid: u32,
        /// "setgroups", "setgid" or "setuid".
        step: &'static str,
        /// The cause.
        source: nix::Error,
    },
    /// The control socket could not be handed to the user.
    #[error("giving {} to user {user:?}: {source}", path.display())]
    Chown {
        /// The socket path.
        path: PathBuf,
        /// The configured name.
        user: String,
        /// The cause.
        source: nix::Error,
    },
}

/// Whom to run as: the resolved `[server] user` and `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name, as configured.
    pub user: String,
    /// Its uid.
    pub uid: Uid,
    /// The group: `server.group`, or the user's primary group.
    pub gid: Gid,
}

impl RunAs {
    /// Looks up `user` and `group` (`None` when no user is configured: daned keeps running as
    /// whoever started it).
    ///
    /// # Errors
    ///
    /// [`PrivilegeError::UnknownUser`], [`PrivilegeError::UnknownGroup`] or
    /// [`PrivilegeError::Lookup`].
    pub fn resolve(
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<Option<Self>, PrivilegeError> {
        let Some(name) = user else {
            return Ok(None);
        };
        let found = User::from_name(name)
            .map_err(|source| PrivilegeError::Lookup {
                what: "user",
                name: name.to_owned(),
                source,
            })?
            .ok_or_else(|| PrivilegeError::UnknownUser {
                user: name.to_owned(),
            })?;
        let gid = match group {
            None => found.gid,
            Some(group) => {
                Group::from_name(group)
                    .map_err(|source| PrivilegeError::Lookup {
                        what: "group",
                        name: group.to_owned(),
                        source,
                    })?
                    .ok_or_else(|| PrivilegeError::UnknownGroup {
                        group: group.to_owned(),
                    })?
                    .gid
            }
        };
        Ok(Some(Self {
            user: name.to_owned(),
            uid: found.uid,
            gid,
        }))
    }

    /// Whether daned has to switch: it runs as root and the user is another one.
    ///
    /// # Errors
    ///
    /// [`PrivilegeError::NotRoot`] when it runs as a third user, who cannot switch.
    pub fn must_switch(&self) -> Result<bool, PrivilegeError> {
        let uid = Uid::effective();
        if uid == self.uid {
            Ok(false)
        } else if uid.is_root() {
            Ok(true)
        } else {
            Err(PrivilegeError::NotRoot {
                user: self.user.clone(),
                uid: uid.as_raw(),
            })
        }
    }

    /// Makes the user and group the owners of `path` (the control socket, created as root).
    ///
    /// # Errors
    ///
    /// [`PrivilegeError::Chown`].
    pub fn give(&self, path: &Path) -> Result<(), PrivilegeError> {
        nix::unistd::chown(path, Some(self.uid), Some(self.gid)).map_err(|source| {
            PrivilegeError::Chown {
                path: path.to_path_buf(),
                user: self.user.clone(),
                source,
            }
        })
    }

    /// Gives up root for good: the supplementary groups become the group alone, then the
    /// group, then the user (real, effective and saved ids; after `setuid` as root there is
    /// no way back).
    ///
    /// # Errors
    ///
    /// [`PrivilegeError::Switch`] naming the step that failed.
    pub fn switch(&self) -> Result<(), PrivilegeError> {
        let fail = |step: &'static str| {
            move |source: nix::Error| PrivilegeError::Switch {
                user: self.user.clone(),
                uid: self.uid.as_raw(),
                gid: self.gid.as_raw(),
                step,
                source,
            }
        };
        nix::unistd::setgroups(&[self.gid]).map_err(fail("setgroups"))?;
        nix::unistd::setgid(self.gid).map_err(fail("setgid"))?;
        nix::unistd::setuid(self.uid).map_err(fail("setuid"))?;
        // A setuid that left any root id behind would be a silent failure.
        if Uid::current() != self.uid || Uid::effective() != self.uid {
            return Err(fail("setuid")(nix::Error::EPERM));
        }
        tracing::info!(
            user = %self.user,
            uid = self.uid.as_raw(),
            gid = self.gid.as_raw(),
            "sockets bound; running as an unprivileged user"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_means_no_switch() {
        assert_eq!(RunAs::resolve(None, Some("root")).unwrap(), None);
    }

    #[test]
    fn an_unknown_user_is_named() {
        let error = RunAs::resolve(Some("no-such-user-daned-test"), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "server.user \"no-such-user-daned-test\": no such user"
        );
    }

    #[test]
    fn root_resolves_with_its_primary_group() {
        let run_as = RunAs::resolve(Some("root"), None).unwrap().unwrap();
        assert!(run_as.uid.is_root());
        assert_eq!(run_as.gid.as_raw(), 0);
    }
}
