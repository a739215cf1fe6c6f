use appenv_config::Section;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
enum Mode {
    Fast,
    Safe,
}

#[derive(Debug, Serialize, Deserialize, Section)]
struct Port(u16);

#[derive(Debug, Serialize, Deserialize, Section)]
struct Nothing;

#[derive(Section)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
