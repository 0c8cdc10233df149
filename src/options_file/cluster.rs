//! `cluster {}`: parsed and checked now, named as not supported yet.

use natrix_shards::options::ClusterOptions;

use crate::config::Entry;
use crate::flags::Settings;

use super::Reader;

impl Reader {
    pub(super) fn cluster(&mut self, entry: &Entry, settings: &mut Settings) {
        let Some(map) = self.map(entry) else { return };
        let mut cluster = ClusterOptions::default();
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "name" => {
                    cluster.name = self.string(field);
                    if cluster.name.as_ref().is_some_and(|name| name.contains(' ')) {
                        self.error(&field.item.pos, "cluster name cannot contain spaces");
                    }
                }
                "listen" => {
                    if let Some((host, port)) = self.listen(field) {
                        cluster.host = host;
                        cluster.port = Some(i64::from(port));
                    }
                }
                "port" => cluster.port = self.integer(field),
                "host" | "net" => cluster.host = self.string(field),
                "routes" => cluster.routes = self.string_list(field).unwrap_or_default(),
                "cluster_advertise" | "advertise" => cluster.advertise = self.string(field),
                "no_advertise" => cluster.no_advertise = self.boolean(field).unwrap_or(false),
                "connect_retries" => cluster.connect_retries = self.integer(field).unwrap_or(0),
                "pool_size" => cluster.pool_size = self.integer(field),
                "authorization" | "tls" | "connect_backoff" | "permissions" | "accounts"
                | "compression" | "ping_interval" | "ping_max" | "write_deadline"
                | "write_timeout" => {}
                _ => self.unknown(field),
            }
        }
        settings.options.cluster = Some(cluster);
        self.not_supported(entry, "option");
    }
}
