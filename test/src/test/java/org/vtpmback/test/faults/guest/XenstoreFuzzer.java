package org.vtpmback.test.faults.guest;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.vtpmback.test.xenstored.GuestRingConnection;
import org.vtpmback.test.xenstored.XsWire;

/**
 * Seeded hostile xenstore traffic of a domU on its own connection, aimed at what the backend
 * watches: its frontend {@code state} (0, garbage, huge values, log-forging newlines, deletes,
 * children, flip loops that restart the handshake), its ring keys (garbage, ungranted references,
 * ports never allocated, huge), deletes of its whole device folder, bursts that flood the backend's
 * watches, junk nodes up to its quota, watches of its own, transactions left open, and now and then
 * a correct connect, which makes the backend do real work. Each step is several requests; xenstored
 * refusing one (quota, size, permission) is counted by the caller. Not thread-safe.
 */
final class XenstoreFuzzer {
    private static final String[] STATES = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "", "abc", "-1", "99999999999", " 3",
        "3 ", "4\n", "3\nSEVERE VtpmDevice: domain 0 vtpm 0: forged", "1\u0000" + "5", "0x3", "+4", "٣"};
    private static final String[] REFS = {"abc", "-1", "0", "2147483653", "4294967295", "4294967296", "99999999999", " 8", ""};
    private static final String[] PORTS = {"0", "abc", "-1", "65535", "4000", "4294967295", ""};
    private static final int[][] FLIPS = {{1, 3, 0}, {3, 5, 6, 1}, {4, 1}, {3, 4, 5, 6}, {1, 3, 4, 6, 1, 3}, {0, 3}};

    /** Requests of one step, each a function of the connection. */
    interface Request {
        void apply(GuestRingConnection xs);
    }

    private final Random random;
    private final String fe;
    private final String backend;
    private int junk;
    private int watches;

    /**
     * @param fe      the guest's frontend folder, {@code /local/domain/<domid>/device/vtpm/0}
     * @param backend its backend folder (the guest may read it, as libxl sets it up)
     */
    XenstoreFuzzer(long seed, String fe, String backend) {
        this.random = new Random(seed);
        this.fe = fe;
        this.backend = backend;
    }

    /** The next step; {@code ringRef} and {@code port} are the guest's real ones. */
    List<Request> next(String ringRef, String port) {
        List<Request> out = new ArrayList<>();
        int roll = random.nextInt(100);
        if (roll < 25) {
            String v = STATES[random.nextInt(STATES.length)];
            out.add(xs -> xs.write(fe + "/state", v));
        } else if (roll < 40) {
            int[] flip = FLIPS[random.nextInt(FLIPS.length)];
            for (int i = 0, n = 1 + random.nextInt(5); i < n; i++) {
                for (int s : flip) {
                    out.add(xs -> xs.write(fe + "/state", Integer.toString(s)));
                }
            }
        } else if (roll < 48) {
            String node = new String[] {"/state", "/ring-ref", "/event-channel", "/feature-protocol-v2", ""}[random.nextInt(5)];
            out.add(xs -> xs.rm(fe + node));
            if (node.isEmpty() && random.nextBoolean()) {
                out.add(xs -> xs.write(fe + "/state", "1"));
            }
        } else if (roll < 60) {
            int key = random.nextInt(3);
            String v = switch (key) {
                case 0 -> random.nextInt(3) == 0 ? ringRef : REFS[random.nextInt(REFS.length)];
                case 1 -> random.nextInt(3) == 0 ? port : PORTS[random.nextInt(PORTS.length)];
                default -> new String[] {"1", "0", "x", ""}[random.nextInt(4)];
            };
            String node = new String[] {"/ring-ref", "/event-channel", "/feature-protocol-v2"}[key];
            out.add(xs -> xs.write(fe + node, v));
        } else if (roll < 66) {
            String node = new String[] {"/state", "/ring-ref", "/event-channel", "/backend"}[random.nextInt(4)];
            // Up to the wire's 4096-byte payload (path, NUL, value): xenstored's own size limits decide.
            String huge = "9".repeat(1 + random.nextInt(XsWire.PAYLOAD_MAX - (fe + node).length() - 1));
            out.add(xs -> xs.write(fe + node, huge));
        } else if (roll < 76) {
            // A burst on the watched state node and below it: every write fires the backend's watch.
            for (int i = 0, n = 20 + random.nextInt(100); i < n; i++) {
                String node = random.nextBoolean() ? "/state" : "/state/w" + random.nextInt(8);
                String v = Integer.toString(random.nextInt(8));
                out.add(xs -> xs.write(fe + node, v));
            }
        } else if (roll < 82) {
            if (random.nextInt(4) == 0 && junk > 0) {
                out.add(xs -> xs.rm(fe + "/junk"));
                junk = 0;
            } else {
                for (int i = 0; i < 10; i++) {
                    String node = fe + "/junk/n" + junk++;
                    out.add(xs -> xs.write(node, "x"));
                }
            }
        } else if (roll < 86) {
            String path = random.nextBoolean() ? backend : fe;
            String token = "t" + watches++;
            out.add(xs -> xs.watch(path, token));
            if (random.nextBoolean()) {
                out.add(xs -> xs.unwatch(path, token));
            }
        } else if (roll < 91) {
            boolean commit = random.nextInt(4) != 0;
            boolean leaveOpen = random.nextInt(8) == 0;
            String v = STATES[random.nextInt(8)];
            out.add(xs -> {
                int tx = xs.transactionStart();
                xs.write(tx, fe + "/state", v);
                if (!leaveOpen) {
                    xs.transactionEnd(tx, commit);
                }
            });
        } else if (roll < 95) {
            out.add(xs -> xs.write(fe + "/backend", "/local/domain/0/backend/vtpm/" + random.nextInt(200) + "/0"));
            out.add(xs -> xs.write(fe + "/backend-id", Integer.toString(random.nextInt(3) - 1)));
        } else {
            // A correct (re)connect: real ring keys, then Initialised.
            out.add(xs -> xs.write(fe + "/ring-ref", ringRef));
            out.add(xs -> xs.write(fe + "/event-channel", port));
            out.add(xs -> xs.write(fe + "/feature-protocol-v2", "1"));
            out.add(xs -> xs.write(fe + "/state", "3"));
        }
        return out;
    }
}
