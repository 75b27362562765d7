//! Test and benchmark support: moto's standalone server on a free loopback port (shared
//! by a test binary, or dedicated with its call recorder on), and synthetic programs of
//! N resources for scaling measurements.
//!
//! Architecture invariant: only tests and `stackup-bench` use this crate; it talks to
//! 127.0.0.1 only.

mod engine;
mod moto;
mod synthetic;

pub use engine::{aws_registry, plan_program, sdk_config, up};
pub use moto::Moto;
pub use synthetic::synthetic_program;
