//! Label values several families share, as enums: callers never pass free strings for them.
//! A family's own label enums live in its file; every one of them is made by [`label_enum!`].

/// Declares a closed set of label values: the enum, its label strings, `ALL`, and its
/// [`LabelValues`](super::instruments::LabelValues) impl so it can index bound instruments.
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $value:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::sources::catalog::instruments::LabelValues for $name {
            const ARITY: usize = 1;
            const COUNT: usize = $name::ALL.len();
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
            fn from_index(index: usize) -> Option<Self> {
                $name::ALL.get(index).copied()
            }
            fn push_values(self, out: &mut Vec<&'static str>) {
                out.push(self.as_str());
            }
        }
    };
}

pub(crate) use label_enum;

label_enum! {
    /// The node's actor kinds: the `actor_type` values the Alys actor dashboards group by.
    pub enum ActorType {
        Chain => "chain",
        Engine => "engine",
        Network => "network",
        Bridge => "bridge",
        Storage => "storage",
        Sync => "sync",
        Stream => "stream",
        Supervisor => "supervisor",
        System => "system",
    }
}

label_enum! {
    /// Kinds of actor messages (`message_type`). Custom messages share one value, `custom`:
    /// a number per custom type would make the label unbounded.
    pub enum MessageType {
        Lifecycle => "lifecycle",
        Sync => "sync",
        Network => "network",
        Mining => "mining",
        Governance => "governance",
        Bridge => "bridge",
        Storage => "storage",
        System => "system",
        Custom => "custom",
    }
}

label_enum! {
    /// Outcome of handling something (`outcome` label).
    pub enum Outcome {
        Success => "success",
        Failure => "failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::catalog::instruments::LabelValues;

    #[test]
    fn indices_follow_declaration_order() {
        for (i, a) in ActorType::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
            assert_eq!(ActorType::from_index(i), Some(*a));
        }
        assert_eq!(ActorType::from_index(ActorType::COUNT), None);
        assert_eq!(MessageType::COUNT, 9);
        assert_eq!(MessageType::Custom.to_string(), "custom");
    }
}
