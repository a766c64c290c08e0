//! Who is on the other end of the control socket, and whether to talk to them: this user or root,
//! checked from the peer's credentials (`SO_PEERCRED`) on both sides.

use nix::unistd::{Uid, User, geteuid};

/// Whether a peer running as `uid` may be talked to: the same user, or root.
pub(super) fn trusted(uid: u32) -> bool {
    uid == geteuid().as_raw() || uid == 0
}

/// A user id with its name when it has one: `uid 65534 (nobody)`.
pub(super) fn describe_uid(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}
