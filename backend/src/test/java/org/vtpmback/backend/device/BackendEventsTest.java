package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.vtpmback.xen.DomainId;
import org.vtpmback.xenstore.XsPath;

/** Which look a watch event below {@code backend/vtpm} asks for, and how requests merge until it runs. */
class BackendEventsTest {
    private static final XsPath BASE = XsPath.of("/local/domain/0/backend/vtpm");

    /** Runs what is queued only when told to, so that requests made meanwhile can merge. */
    private final Queue<Runnable> queued = new ArrayDeque<>();
    private final List<String> looks = new ArrayList<>();
    private final BackendEvents events = new BackendEvents(BASE, queued::add, Set.of(new DeviceId(7, 0))::contains,
            () -> looks.add("all"), d -> looks.add("domain " + d));

    private List<String> run() {
        while (!queued.isEmpty()) {
            queued.remove().run();
        }
        return List.copyOf(looks);
    }

    @Test
    void anEventBelowADomainLooksAtThatDomainOnly() {
        events.changed(BASE.child(5).child(0).child("state"));
        assertEquals(List.of("domain 5"), run());
    }

    @Test
    void eventsOfAHandledDeviceAskForNothing() {
        events.changed(BASE.child(7).child(0).child("state"));
        events.changed(BASE.child(7).child(0));
        assertEquals(List.of(), run());
    }

    @Test
    void theDomainNodeItselfAndAnotherDeviceOfAHandledDomainAreLookedAt() {
        events.changed(BASE.child(7));
        assertEquals(List.of("domain 7"), run());
        looks.clear();
        events.changed(BASE.child(7).child(1).child("uuid"));
        assertEquals(List.of("domain 7"), run());
    }

    @Test
    void theTopLevelNodeOrAPathOutsideItListsEverything() {
        events.changed(BASE);
        assertEquals(List.of("all"), run());
        looks.clear();
        events.changed(XsPath.of("/local/domain/0/backend"));
        assertEquals(List.of("all"), run());
    }

    @Test
    void aNameThatIsNoGuestDomainIdAsksForNothing() {
        for (String name : List.of("0", "007", "abc", "32752", "99999999999", "-1")) {
            events.changed(XsPath.of(BASE.value() + "/" + name + "/0/state"));
        }
        assertEquals(List.of(), run());
    }

    @Test
    void requestsMergeUntilTheLookRunsAndEverythingCoversTheDomains() {
        for (int i = 0; i < 100; i++) {
            events.changed(BASE.child(5).child(0).child("k" + i));
            events.changed(BASE.child(6).child(0).child("k" + i));
        }
        assertEquals(1, queued.size(), "one look queued for 200 events");
        assertEquals(Set.of("domain 5", "domain 6"), Set.copyOf(run()));
        assertEquals(2, looks.size());

        looks.clear();
        events.changed(BASE.child(5).child(0).child("state"));
        events.everything();
        assertEquals(List.of("all"), run(), "a listing of everything covers the domain that was waiting");
    }

    @Test
    void aGoneDeviceLooksAtItsDomainAgain() {
        events.domain(new DomainId(7));
        assertEquals(List.of("domain 7"), run());
    }
}
