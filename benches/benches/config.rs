//! Config load: appenv's loader against a bare figment extract of the same
//! data.

use appenv_config::{AppEnv, Loader, Registry, Section, ServerConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    server: ServerConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            server: ServerConfig::defaults(env),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<ServerConfig>("server");
    }
}

fn config_load(c: &mut Criterion) {
    let vars = [("APP_ENV", "staging"), ("PORT", "4001")];
    let mut group = c.benchmark_group("config_load");
    group.bench_function("appenv", |b| {
        b.iter(|| {
            Loader::hermetic(vars)
                .config_dir("/nonexistent")
                .load::<Config>()
                .unwrap()
        })
    });
    group.bench_function("figment", |b| {
        b.iter(|| {
            figment::Figment::from(figment::providers::Serialized::defaults(Config::defaults(
                AppEnv::Staging,
            )))
            .merge(figment::providers::Serialized::default("server.port", 4001))
            .extract::<Config>()
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, config_load);
criterion_main!(benches);
