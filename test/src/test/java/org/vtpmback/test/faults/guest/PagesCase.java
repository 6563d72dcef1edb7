package org.vtpmback.test.faults.guest;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.vtpmback.xenstore.XenbusState;

/**
 * Fuzzed shared pages through the daemon: a connected hostile guest puts {@link PageFuzzer} pages on
 * its granted page and notifies, one after the other. A SUBMIT must be answered (FINISH with a TPM
 * response) within the answer bound, a CANCEL acknowledged (IDLE); other state bytes need nothing.
 * Counts: pages, answers, error responses, malformed responses, pages left unanswered, devices
 * failed (if the daemon ends the rogue's device, a new rogue takes over).
 */
final class PagesCase {
    /** Unanswered pages in a row after which the case stops: the device or the daemon is wedged. */
    private static final int MAX_UNANSWERED_IN_A_ROW = 3;

    private PagesCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        PageFuzzer fuzzer = new PageFuzzer(o.seed() ^ 0x9a9e5L);
        Map<String, Integer> kinds = new TreeMap<>();
        long sent = 0;
        long answers = 0;
        long errors = 0;
        long malformed = 0;
        long unanswered = 0;
        long cancels = 0;
        long deviceFailures = 0;
        int inARow = 0;
        long report = Math.max(1, o.pages() / 10);
        RogueGuest rogue = h.connectedRogue();
        try {
            for (long i = 0; i < o.pages() && h.daemon.isAlive(); i++) {
                PageFuzzer.Page page = fuzzer.next();
                kinds.merge(page.kind(), 1, Integer::sum);
                rogue.submitRaw(page.image());
                sent++;
                boolean answered = true;
                if (page.expectsAnswer()) {
                    Optional<byte[]> r = rogue.awaitAnswer(o.answerBound());
                    if (r.isEmpty()) {
                        answered = false;
                    } else {
                        answers++;
                        byte[] response = r.get();
                        if (!Tpm2.wellFormed(response)) {
                            malformed++;
                        } else if (Tpm2.rc(response) != 0) {
                            errors++;
                        }
                    }
                } else if (page.state() == RogueGuest.STATE_CANCEL) {
                    cancels++;
                    answered = rogue.awaitPageState(RogueGuest.STATE_IDLE, o.answerBound());
                }
                if (answered) {
                    inARow = 0;
                } else {
                    if (!rogue.backendState().equals(Optional.of(XenbusState.CONNECTED.wire()))) {
                        // The daemon failed the device (strikes): that ends this guest's vTPM, not the suite.
                        deviceFailures++;
                        System.out.println("   pages: " + rogue + " left Connected (" + rogue.backendState().orElse("absent")
                                + ", error node " + rogue.errorNode().orElse("none") + ") at page " + i + "; a new rogue takes over");
                        rogue.destroy();
                        rogue = h.connectedRogue();
                    } else if (++unanswered > 0 && ++inARow >= MAX_UNANSWERED_IN_A_ROW) {
                        line.violation(inARow + " pages in a row unanswered within " + o.answerBound().toSeconds()
                                + " s with the device Connected: stopped at page " + i);
                        break;
                    }
                }
                if ((i + 1) % report == 0 && o.longProfile()) {
                    System.out.printf("   pages: %d sent, %d answered, %d unanswered, daemon %s%n", i + 1, answers, unanswered,
                            h.daemon.peaks().format());
                }
            }
            // Whatever came before, a well-formed command still works.
            Optional<byte[]> last = rogue.exchange(org.vtpmback.backend.engine.TpmCommands.getRandom(8), Duration.ofSeconds(30));
            line.flag("rogue_still_served", last.isPresent() && Tpm2.rc(last.get()) == 0, true);
        } finally {
            boolean closed = rogue.destroy();
            line.flag("destroy_closed_in_10s", closed, true);
        }
        line.put("pages", sent).put("responses", answers).put("error_responses", errors).put("cancels", cancels);
        line.count("malformed_responses", malformed, 0);
        line.count("unanswered", unanswered, 0);
        line.put("devices_failed", deviceFailures);
        line.put("mix", kinds.toString().replace(" ", "").replace("{", "").replace("}", "").replace(',', '/'));
    }
}
