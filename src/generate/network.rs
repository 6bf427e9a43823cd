//! The network side of one synthetic machine: internal and external addresses, interfaces, and
//! the Azure VM metadata of cloud-hosted servers.

use serde_json::{json, Value};

use super::{
    machine::Generator,
    tables::{Group, Kind},
};

/// A machine's addresses as the Machine entity reports them.
pub(super) struct Network {
    pub(super) last_ip: String,
    pub(super) external: String,
    pub(super) addresses: Vec<Value>,
}

impl Generator {
    /// Draws the internal and external addresses, the MAC and the interface list.
    pub(super) fn network(&mut self, group: &Group, kind: Kind) -> Network {
        let last_ip = format!(
            "10.{}.{}.{}",
            group.net,
            self.rng.below(256),
            self.rng.range(2, 254)
        );
        let external = {
            let net = *self
                .rng
                .pick(&[("203.0.113", 60), ("198.51.100", 30), ("192.0.2", 10)]);
            format!("{net}.{}", self.rng.range(1, 254))
        };
        let addresses = self.interfaces(kind, &last_ip);
        Network {
            last_ip,
            external,
            addresses,
        }
    }

    /// Draws the MAC, the interface type and an optional IPv6 link-local address; adds loopback.
    fn interfaces(&mut self, kind: Kind, last_ip: &str) -> Vec<Value> {
        let mac = self.rng.mac();
        let wireless =
            matches!(kind, Kind::Laptop | Kind::Mac | Kind::Mobile) && self.rng.chance(60);
        let if_type = if wireless {
            "Wireless80211"
        } else {
            "Ethernet"
        };
        let mut addresses = vec![json!({
            "ipAddress": last_ip, "macAddress": mac, "type": if_type, "operationalStatus": "Up"
        })];
        if kind != Kind::Mobile && self.rng.chance(50) {
            let link_local = self.link_local();
            addresses.push(json!({
                "ipAddress": link_local, "macAddress": mac, "type": if_type, "operationalStatus": "Up"
            }));
        }
        if kind != Kind::Mobile {
            addresses.push(json!({
                "ipAddress": "127.0.0.1", "macAddress": null, "type": "SoftwareLoopback", "operationalStatus": "Up"
            }));
        }
        addresses
    }

    /// Draws an IPv6 link-local address (`fe80::` and four random groups).
    fn link_local(&mut self) -> String {
        format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            self.rng.below(0x10000),
            self.rng.below(0x10000),
            self.rng.below(0x10000),
            self.rng.below(0x10000)
        )
    }

    /// Draws whether a server is an Azure VM and, if so, its subscription, resource group and id.
    pub(super) fn vm_metadata(&mut self, kind: Kind, name: &str) -> Value {
        if !(matches!(kind, Kind::Server | Kind::LinuxServer) && self.rng.chance(45)) {
            return Value::Null;
        }
        let subscription = self.subscriptions[self.rng.below(3) as usize].clone();
        let host = name.split('.').next().unwrap_or_default();
        let rg = *self
            .rng
            .pick(&[("prod", 60), ("staging", 25), ("shared", 15)]);
        json!({
            "vmId": self.rng.guid(),
            "cloudProvider": "Azure",
            "resourceId": format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{host}"),
            "subscriptionId": subscription,
        })
    }
}
