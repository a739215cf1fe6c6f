use appenv_config::Section;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[config(defualt = 3001)]
    port: u16,
    #[config(colour = "blue")]
    theme: String,
}

fn main() {}
