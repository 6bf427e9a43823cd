//! A tenant's machine tags and the machine lookups beside them: adding or removing a tag
//! (copy-on-write of the machine, as offboarding changes it), finding machines by tag or by
//! internal IP, and a machine's logon users (docs/contract/machines-companion.md).

use super::*;
use crate::model::LogonUser;

/// Add or remove (the body's `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagChange {
    Add,
    Remove,
}

/// How a lookup by IP is bounded: the address, and the window a machine must have been seen in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpWindow<'a> {
    pub ip: &'a str,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Tenant {
    /// Adds or removes tag `value` on every machine of `keys` in one step, and returns them as
    /// they are then. Tags compare case-insensitively: adding one already there (in any case)
    /// or removing one that is absent changes nothing. Each machine that changed is published as
    /// `machine.changed`.
    pub(crate) fn change_tag(
        &self,
        keys: &[MachineKey],
        value: &str,
        change: TagChange,
        now: OffsetDateTime,
    ) -> Vec<Arc<Machine>> {
        let mut guard = self.write_settled(now);
        let state = &mut *guard;
        let mut out = Vec::with_capacity(keys.len());
        for &key in keys {
            let present = self
                .machine_in(state, key)
                .machine_tags
                .iter()
                .any(|t| t.eq_ignore_ascii_case(value));
            let changes = match change {
                TagChange::Add => !present,
                TagChange::Remove => present,
            };
            if changes {
                let m = self.own(&state.fleet, &mut state.machines, key);
                let machine = Arc::make_mut(&mut m.machine);
                match change {
                    TagChange::Add => machine.machine_tags.push(value.to_owned()),
                    TagChange::Remove => machine
                        .machine_tags
                        .retain(|t| !t.eq_ignore_ascii_case(value)),
                }
                if let Some(sink) = &state.sink {
                    sink.publish(Timestamp(now), || machine_changed(m));
                }
            }
            out.push(Arc::clone(self.machine_in(state, key)));
        }
        out
    }

    /// The machines the caller sees with a tag equal to `tag` (any case), or starting with it
    /// when `starts_with`, in fleet id order.
    pub(crate) fn find_by_tag(
        &self,
        vis: &Visibility,
        tag: &str,
        starts_with: bool,
        now: OffsetDateTime,
    ) -> Vec<Arc<Machine>> {
        let tag = tag.to_lowercase();
        let matches = |t: &String| {
            let t = t.to_lowercase();
            if starts_with {
                t.starts_with(&tag)
            } else {
                t == tag
            }
        };
        self.find(vis, now, |m| m.machine_tags.iter().any(matches))
    }

    /// The machines the caller sees that had internal address `w.ip` (`lastIpAddress` or one of
    /// `ipAddresses`) and were seen during `[w.from, w.to]` (from `firstSeen` to `lastSeen`),
    /// in fleet id order.
    pub(crate) fn find_by_ip(
        &self,
        vis: &Visibility,
        w: IpWindow<'_>,
        now: OffsetDateTime,
    ) -> Vec<Arc<Machine>> {
        self.find(vis, now, |m| {
            let has_ip = m.last_ip_address.as_deref() == Some(w.ip)
                || m.ip_addresses.iter().any(|a| &*a.ip_address == w.ip);
            has_ip && m.first_seen.0 <= w.to && m.last_seen.0 >= w.from
        })
    }

    /// The users seen logging on to machine `key` (fixture data: they do not change).
    pub(crate) fn logon_users(&self, key: MachineKey) -> Box<[LogonUser]> {
        self.read().fleet.at(key).logon_users.clone()
    }

    /// The machines the caller sees that pass `keep`, as of `now`.
    fn find(
        &self,
        vis: &Visibility,
        now: OffsetDateTime,
        keep: impl Fn(&Machine) -> bool,
    ) -> Vec<Arc<Machine>> {
        let state = self.read_settled(now);
        state
            .fleet
            .iter()
            .map(|(key, _)| self.machine_in(&state, key))
            .filter(|m| vis.sees(m) && keep(m))
            .map(Arc::clone)
            .collect()
    }
}
