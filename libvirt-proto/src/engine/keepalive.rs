//! libvirt's keepalive, driven by the time the caller passes in.
//!
//! Any frame received counts as activity. After `interval` without
//! activity a PING is due; every further `interval` without activity sends
//! another; one `interval` after the `count`-th unanswered PING the peer is
//! dead, `interval × (count + 1)` after it last spoke. Each PING has a
//! whole `interval` to be answered, counted from when it went out: a
//! timer that fires late (the process was stopped, the machine slept)
//! sends one PING and waits, rather than catching up on every PING it
//! missed and declaring the peer dead without giving it a chance. This is
//! libvirt's `virKeepAlive` timer (with `count` 0, a connection dies after
//! one silent interval); libvirt's client defaults are 5 s and 5.

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
    /// When the next PING (or the verdict) is due: an interval after the
    /// last activity or the last PING; `None` when that is beyond what an
    /// `Instant` can hold (never).
    next: Option<Instant>,
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
            next: now.checked_add(DEFAULT_INTERVAL),
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
        self.activity(now);
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
        self.next = now.checked_add(self.interval);
        self.unanswered = 0;
    }

    /// When [`Keepalive::poll`] next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.next.filter(|_| self.enabled)
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
            self.unanswered = 0;
        }
        self.unanswered += 1;
        self.next = now.checked_add(self.interval);
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
    fn a_late_timer_sends_one_ping_and_gives_it_a_whole_interval() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut k = Keepalive::new(t0);
        k.enable(5 * s, 2, t0);
        // Nothing ran for 40 s (a stopped process, a sleeping machine).
        assert_eq!(k.poll(t0 + 40 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 40 * s), KeepaliveAction::Idle);
        assert_eq!(k.deadline(), Some(t0 + 45 * s));
        assert_eq!(k.poll(t0 + 45 * s), KeepaliveAction::Ping);
        // The peer answers in time: all is well again.
        k.activity(t0 + 46 * s);
        assert_eq!(k.poll(t0 + 50 * s), KeepaliveAction::Idle);
        assert_eq!(k.poll(t0 + 51 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 56 * s), KeepaliveAction::Ping);
        assert_eq!(k.poll(t0 + 61 * s), KeepaliveAction::Dead);
    }

    #[test]
    fn an_interval_beyond_any_instant_never_fires() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0);
        k.enable(Duration::MAX, 5, t0);
        assert!(k.is_enabled());
        assert_eq!(k.deadline(), None);
        assert_eq!(
            k.poll(t0 + Duration::from_secs(1 << 40)),
            KeepaliveAction::Idle
        );
        k.activity(t0 + Duration::from_secs(1));
        assert_eq!(k.deadline(), None);
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
