package org.vtpmback.backend.device;

/** The xenstore keys of a vtpm device (reference 2.3), in one place. */
public final class VtpmKeys {
    // Backend directory, written by libxl.
    public static final String FRONTEND = "frontend";
    public static final String FRONTEND_ID = "frontend-id";
    public static final String ONLINE = "online";
    public static final String STATE = "state";
    public static final String HANDLE = "handle";
    public static final String UUID = "uuid";
    public static final String RESUME = "resume";
    // Backend directory, written by us.
    public static final String FEATURE_PROTOCOL_V2 = "feature-protocol-v2";
    public static final String READY = "ready";
    // Frontend directory, written by the guest: hostile input.
    public static final String RING_REF = "ring-ref";
    public static final String EVENT_CHANNEL = "event-channel";
    public static final String BACKEND = "backend";
    public static final String BACKEND_ID = "backend-id";

    private VtpmKeys() {
    }
}
