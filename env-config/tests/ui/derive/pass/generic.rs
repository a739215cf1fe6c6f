//! A generic section and a hand-written impl beside derived ones.

use appenv_config::{AppEnv, Registry, Section};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
#[serde(bound = "T: Serialize + DeserializeOwned + Default")]
struct Wrapper<T>
where
    T: Serialize + DeserializeOwned + Default + 'static,
{
    #[config(alias = "INNER")]
    inner: T,
    #[config(section)]
    manual: Manual,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manual {
    level: u8,
}

impl Section for Manual {
    fn defaults(env: AppEnv) -> Self {
        Manual { level: if env.is_production() { 1 } else { 3 } }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.alias("LEVEL", "level");
    }
}

#[derive(Debug, Serialize, Deserialize, Section)]
struct Empty {}

fn main() {
    let wrapper = Wrapper::<u16>::defaults(AppEnv::Production);
    assert_eq!(wrapper.manual.level, 1);
    assert_eq!(wrapper.inner, 0);
    let _ = Empty::defaults(AppEnv::Local);
}
