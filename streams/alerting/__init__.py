"""Alert evaluation in the worker: a pure state machine, the evaluator timer and notifiers."""
