//! Timers of servers and client sessions.

/// A server's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerTimer {
    /// FLE: resend notifications (exponential backoff while nothing arrives).
    ElectionResend,
    /// FLE: a quorum agrees; wait this long for a better vote before deciding
    /// (`finalizeWait`, 200 ms).
    Finalize,
    /// One tick (`tickTime`): pings, the sync/init limits, session expiry.
    Tick,
    /// Retry opening the ZAB link to the leader.
    Reconnect,
}

/// A client session's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionTimer {
    /// Send a ping (every third of the session timeout while connected).
    Ping,
    /// Nothing heard from the server for two thirds of the timeout: try another server.
    Silence,
}

/// Every timer of this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkTimer {
    Server(ServerTimer),
    Session(SessionTimer),
}
