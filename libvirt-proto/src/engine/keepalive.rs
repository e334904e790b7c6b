//! libvirt's keepalive, driven by the time the caller passes in.
//!
//! Any frame received counts as activity. After `interval` without
//! activity a PING is due; every further `interval` without activity sends
//! another; one `interval` after the `count`-th unanswered PING the peer is
//! dead, `interval × (count + 1)` after it last spoke. This is libvirt's
//! `virKeepAlive` timer (with `count` 0, a connection dies after one silent
//! interval); libvirt's client defaults are 5 s and 5.

use std::time::{Duration, Instant};

/// libvirt's default interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// libvirt's default count.
pub const DEFAULT_COUNT: u32 = 5;

/// What the keepalive wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveAction {
    /// Nothing.
    Idle,
    /// Send a PING.
    Ping,
    /// The peer is considered dead.
    Dead,
}

/// The keepalive state of one connection.
#[derive(Debug, Clone)]
pub struct Keepalive {
    interval: Duration,
    count: u32,
    last_activity: Instant,
    unanswered: u32,
    enabled: bool,
    /// Input is not being read (see [`Keepalive::set_paused`]).
    paused: bool,
}

impl Keepalive {
    /// A disabled keepalive (nothing is sent until [`Keepalive::enable`]).
    pub fn new(now: Instant) -> Self {
        Keepalive {
            interval: DEFAULT_INTERVAL,
            count: DEFAULT_COUNT,
            last_activity: now,
            unanswered: 0,
            enabled: false,
            paused: false,
        }
    }

    /// Starts sending PINGs every `interval` of silence, giving up after
    /// `count` unanswered ones. An interval of zero disables it.
    pub fn enable(&mut self, interval: Duration, count: u32, now: Instant) {
        self.interval = interval;
        self.count = count;
        self.enabled = !interval.is_zero();
        self.last_activity = now;
        self.unanswered = 0;
    }

    /// Whether PINGs are sent.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Says whether the driver has stopped reading the transport (a
    /// consumer is slow, its buffer is full). Silence then says nothing
    /// about the peer: PINGs still go out every `interval` (so the peer
    /// hears from us), but the peer is never declared dead while paused.
    /// When reading resumes, silence counts from `now`.
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        if self.paused && !paused {
            self.activity(now);
        }
        self.paused = paused;
    }

    /// Records that something arrived.
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
        self.unanswered = 0;
    }

    /// When [`Keepalive::poll`] next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.enabled
            .then(|| self.last_activity + self.interval * (self.unanswered + 1))
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> KeepaliveAction {
        let Some(deadline) = self.deadline() else {
            return KeepaliveAction::Idle;
        };
        if now < deadline {
            return KeepaliveAction::Idle;
        }
        if self.unanswered >= self.count {
            if !self.paused {
                return KeepaliveAction::Dead;
            }
            // Keep pinging every interval, never judging.
            self.last_activity = now;
            self.unanswered = 0;
            return KeepaliveAction::Ping;
        }
        self.unanswered += 1;
        KeepaliveAction::Ping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_on_silence_and_declares_death_after_interval_times_count() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut k = Keepalive::new(t0);
        assert_eq!(k.poll(t0 + 100 * s), KeepaliveAction::Idle, "disabled");
        k.enable(5 * s, 3, t0);
        assert_eq!(k.deadline(), Some(t0 + 5 * s));
        assert_eq!(k.poll(t0 + 4 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 5 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 6 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 10 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 15 * s), KeepaliveAction::Ping);
        // Three unanswered: dead one interval later, 5 × (3 + 1) s after the
        // last activity.
        assert_eq!(k.deadline(), Some(t0 + 20 * s));
        assert_eq!(k.poll(t0 + 19 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 20 * s), KeepaliveAction::Dead);
    }

    #[test]
    fn count_zero_dies_after_one_silent_interval() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0);
        k.enable(Duration::from_secs(5), 0, t0);
        assert_eq!(k.poll(t0 + Duration::from_secs(5)), KeepaliveAction::Dead);
    }

    #[test]
    fn paused_input_pings_but_never_declares_death() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut k = Keepalive::new(t0);
        k.enable(5 * s, 1, t0);
        k.set_paused(true, t0 + s);
        assert_eq!(k.poll(t0 + 5 * s), KeepaliveAction::Ping);
        // Where an unpaused connection would die, a paused one pings on.
        assert_eq!(k.poll(t0 + 10 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 15 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 100 * s), KeepaliveAction::Ping);
        // Resumed at 101 s: silence counts from there.
        k.set_paused(false, t0 + 101 * s);
        assert_eq!(k.poll(t0 + 105 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 106 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 110 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 111 * s), KeepaliveAction::Dead);
    }

    #[test]
    fn any_traffic_resets_the_count() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut k = Keepalive::new(t0);
        k.enable(5 * s, 2, t0);
        assert_eq!(k.poll(t0 + 5 * s), KeepaliveAction::Ping);
        k.activity(t0 + 7 * s);
        assert_eq!(k.poll(t0 + 11 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 12 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 17 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 22 * s), KeepaliveAction::Dead);
    }
}
