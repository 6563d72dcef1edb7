package org.vtpmback.backend.device;

import org.vtpmback.xenstore.XenbusState;

/** What the backend does next for one device; decided by {@link XenbusStateMachine}, applied by the device. */
public sealed interface XenbusStep {
    /** Nothing to do. */
    record Stay() implements XenbusStep {
    }

    /** Write a new backend state (never the one already there). */
    record Switch(XenbusState to) implements XenbusStep {
    }

    /** Read the frontend's ring, map, bind, start the engine, go Connected, serve what is pending. */
    record Connect() implements XenbusStep {
    }

    /** Finish the in-flight command, release page, port and engine, then write {@code then}. */
    record Disconnect(XenbusState then) implements XenbusStep {
    }

    XenbusStep STAY = new Stay();
    XenbusStep CONNECT = new Connect();
}
