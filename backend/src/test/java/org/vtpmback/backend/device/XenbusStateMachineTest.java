package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.vtpmback.xenstore.XenbusState;

/**
 * Every (ours, theirs) pair, online and not, attached and not, against tables written out by hand
 * from reference section 2 (libxl 4.17 + Linux xen-tpmfront) and blkback's frontend_changed.
 * Cell codes: "." stay, "W" switch to InitWait, "K" switch to Connected, "5" switch to Closing,
 * "C" connect, "D2"/"D5"/"D6" disconnect then write InitWait/Closing/Closed.
 */
class XenbusStateMachineTest {
    // Columns: ours = 0 1 2 3 4 5 6 7 8. Rows: theirs = 0..8.
    private static final String[] ONLINE_DETACHED = {
        "D6 D6 D6 D6 D6 D6 .  D6 D6", // FE unknown/absent: tear down
        "W  W  .  W  W  .  W  W  W ", // FE initialising: InitWait (from Closed: reconnect)
        "W  W  .  W  W  .  W  W  W ", // FE InitWait (not used by tpmfront): same
        // FE initialised: connect (ours=4: daemon restarted, re-attach); from 0/1 InitWait first, which libxl
        // waits for: Linux tpmfront is Initialised before the backend first looks on a hot plug
        "W  W  C  C  C  .  .  C  C ",
        "W  W  C  C  C  .  .  C  C ", // FE connected: same
        "5  5  5  5  5  .  .  5  5 ", // FE closing
        "D6 D6 D6 D6 D6 D6 .  D6 D6", // FE closed
        ".  .  .  .  .  .  .  .  . ",
        ".  .  .  .  .  .  .  .  . ",
    };
    private static final String[] ONLINE_ATTACHED = {
        "D6 D6 D6 D6 D6 D6 D6 D6 D6",
        "D2 D2 D2 D2 D2 D2 D2 D2 D2", // FE started over with a new ring
        "D2 D2 D2 D2 D2 D2 D2 D2 D2",
        "K  K  K  K  .  D6 D6 K  K ",
        "K  K  K  K  .  D6 D6 K  K ",
        "D5 D5 D5 D5 D5 D5 D5 D5 D5",
        "D6 D6 D6 D6 D6 D6 D6 D6 D6",
        ".  .  .  .  .  .  .  .  . ",
        ".  .  .  .  .  .  .  .  . ",
    };
    // online = 0 is removal: whatever the frontend says, end up Closed (libxl waits 10 s for it).
    private static final String OFFLINE_DETACHED_ROW = "D6 D6 D6 D6 D6 D6 .  D6 D6";
    private static final String OFFLINE_ATTACHED_ROW = "D6 D6 D6 D6 D6 D6 D6 D6 D6";

    @Test
    void onlineDetached() {
        assertTable(ONLINE_DETACHED, true, false);
    }

    @Test
    void onlineAttached() {
        assertTable(ONLINE_ATTACHED, true, true);
    }

    @Test
    void offlineAlwaysEndsClosed() {
        String[] detached = new String[9];
        String[] attached = new String[9];
        java.util.Arrays.fill(detached, OFFLINE_DETACHED_ROW);
        java.util.Arrays.fill(attached, OFFLINE_ATTACHED_ROW);
        assertTable(detached, false, false);
        assertTable(attached, false, true);
    }

    @Test
    void libxlCreateThenLinuxConnectThenRemoval() {
        // Sequence A then B of reference 2.6, applying each decision as the device would.
        XenbusState ours = XenbusState.INITIALISING;
        assertEquals(new XenbusStep.Switch(XenbusState.INIT_WAIT), XenbusStateMachine.step(ours, XenbusState.INITIALISING, true, false));
        ours = XenbusState.INIT_WAIT;
        assertEquals(XenbusStep.CONNECT, XenbusStateMachine.step(ours, XenbusState.INITIALISED, true, false));
        ours = XenbusState.CONNECTED;
        assertEquals(XenbusStep.STAY, XenbusStateMachine.step(ours, XenbusState.CONNECTED, true, true));
        // Guest shutdown: FE closing, then libxl removal (FE dir deleted, online 0, state 5).
        assertEquals(new XenbusStep.Disconnect(XenbusState.CLOSING), XenbusStateMachine.step(ours, XenbusState.CLOSING, true, true));
        ours = XenbusState.CLOSING;
        assertEquals(new XenbusStep.Disconnect(XenbusState.CLOSED), XenbusStateMachine.step(ours, XenbusState.UNKNOWN, false, false));
        assertEquals(XenbusStep.STAY, XenbusStateMachine.step(XenbusState.CLOSED, XenbusState.UNKNOWN, false, false));
    }

    private static void assertTable(String[] rows, boolean online, boolean attached) {
        List<String> mismatches = new ArrayList<>();
        for (XenbusState theirs : XenbusState.values()) {
            String[] cells = rows[theirs.value()].trim().split("\\s+");
            for (XenbusState ours : XenbusState.values()) {
                String want = cells[ours.value()];
                String got = code(XenbusStateMachine.step(ours, theirs, online, attached));
                if (!want.equals(got)) {
                    mismatches.add("ours " + ours + " theirs " + theirs + ": want " + want + " got " + got);
                }
            }
        }
        assertEquals(List.of(), mismatches, "online=" + online + " attached=" + attached);
    }

    private static String code(XenbusStep step) {
        if (step instanceof XenbusStep.Stay) {
            return ".";
        } else if (step instanceof XenbusStep.Connect) {
            return "C";
        } else if (step instanceof XenbusStep.Switch s) {
            return switch (s.to()) {
                case INIT_WAIT -> "W";
                case CONNECTED -> "K";
                case CLOSING -> "5";
                default -> "S" + s.to().value();
            };
        } else {
            return "D" + ((XenbusStep.Disconnect) step).then().value();
        }
    }
}
