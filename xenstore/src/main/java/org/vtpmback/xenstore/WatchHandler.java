package org.vtpmback.xenstore;

/**
 * Receives the events of one watch. Called on the store's watch thread: hand real work to another
 * executor and return quickly. Watches are level-triggered: an event says "look again", so the
 * handler re-reads whatever it cares about; events may merge, repeat or arrive spuriously, and one
 * arrives as soon as the watch is registered.
 */
@FunctionalInterface
public interface WatchHandler {
    /** {@code path} is the node that changed: the watched path or a node below it. */
    void onEvent(XsPath path);
}
