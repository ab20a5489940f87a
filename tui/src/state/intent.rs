//! What a key means, independent of the terminal library (`input` maps keys to these).

/// A user action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Quit,
    ToggleHelp,
    /// Close the innermost pane or view (Esc).
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    /// Jump to the newest row and follow the tail.
    Bottom,
    TogglePause,
    VerdictNext,
    VerdictPrev,
    EditFilterLine,
    EditIdentity,
    CycleIdentityDirection,
    EditRequestId,
    RequestIdFromSelected,
    ClearFilters,
    OpenTrace,
    OpenDetail,
    Edit(Edit),
}

/// Editing the prompt line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Clear,
    Submit,
    Cancel,
    /// The identity prompt's source / destination / either switch.
    CycleDirection,
}

/// Which keys apply: the innermost open thing wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Flows,
    Trace,
    Detail,
    Prompt,
    Help,
}
