//! The part of the Kubernetes object model that graceful termination depends on.
//!
//! Only the fields the rules read are kept; everything else in a manifest is ignored. Defaults are
//! applied where Kubernetes applies them (replicas 1, namespace `default`, grace 30 s, rolling
//! update 25 %/25 %) so that every rule reads one value and explains it.
//!
//! One file per kind of object (`workload`, `pod`, `service`, `budget`, `autoscaler`), beside
//! what they share (`meta`, `int_or_percent`, `selector`); `extract` reads them all from YAML.

mod autoscaler;
mod budget;
mod extract;
mod int_or_percent;
mod meta;
mod pod;
mod selector;
mod service;
mod workload;

pub use autoscaler::Autoscaler;
pub use budget::Budget;
pub use extract::{
    Extracted, IGNORE_ANNOTATION, InvalidField, each_object, name_and_namespace,
    objects_from_document,
};
pub use int_or_percent::IntOrPercent;
pub use meta::{Kind, Meta};
pub use pod::{Container, ContainerPort, DEFAULT_GRACE_SECONDS, Handler, PodTemplate, PortRef};
pub use selector::{LabelSelector, Operator, Requirement};
pub use service::{Service, ServicePort};
pub use workload::{DEFAULT_ROLLING_PERCENT, ForeignPods, Strategy, Workload};

/// A value read from a manifest together with the line it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// The line of its key.
    pub line: usize,
}

/// One object read from a manifest.
#[derive(Debug, Clone)]
pub enum Object {
    /// Something that creates pods.
    Workload(Workload),
    /// A Service.
    Service(Service),
    /// A PodDisruptionBudget.
    Budget(Budget),
    /// A HorizontalPodAutoscaler.
    Autoscaler(Autoscaler),
}

impl Object {
    /// Identity of the object.
    pub fn meta(&self) -> &Meta {
        match self {
            Object::Workload(w) => &w.meta,
            Object::Service(s) => &s.meta,
            Object::Budget(b) => &b.meta,
            Object::Autoscaler(a) => &a.meta,
        }
    }
}
