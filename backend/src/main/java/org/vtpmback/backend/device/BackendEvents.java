package org.vtpmback.backend.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.vtpmback.xen.DomainId;
import org.vtpmback.xenstore.XsPath;

/**
 * Turns the watch events on {@code backend/vtpm} into looks at what changed: an event names the changed path, so
 * one below {@code <domid>} only needs that domain's devices listed, not every backend. A listing of everything is
 * kept for what names no domain: the top-level node itself (the watch's first event, as at a re-registration) or a
 * path outside it. In a boot storm of N guests beside D others, a look per event cost 1 + D listings, each one a
 * round trip to the xenstored the toolstack's transactions wait on, so N(1 + D) in all; now about N.
 *
 * <p>Requests merge until the look runs (a {@link CoalescedTask}): the domains waiting are a set of domain ids
 * (at most {@link DomainId#MAX} of them, whatever arrives), and every event makes at most one listing of one
 * domain's devices. Events of devices already handled are left to those devices' own watches. Thread-safe.
 */
final class BackendEvents {
    private static final System.Logger LOG = System.getLogger(BackendEvents.class.getName());

    private final XsPath base;
    private final Predicate<DeviceId> handled;
    private final Runnable listAll;
    private final Consumer<DomainId> listDomain;
    private final Set<DomainId> domains = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean all = new AtomicBoolean();
    private final CoalescedTask look;

    /**
     * @param base       {@code /local/domain/<own>/backend/vtpm}
     * @param handled    whether a device already has its {@link VtpmDevice}
     * @param listAll    lists every backend and adds the new ones (run on {@code executor})
     * @param listDomain lists one domain's backends and adds the new ones (run on {@code executor})
     */
    BackendEvents(XsPath base, Executor executor, Predicate<DeviceId> handled, Runnable listAll, Consumer<DomainId> listDomain) {
        this.base = base;
        this.handled = handled;
        this.listAll = listAll;
        this.listDomain = listDomain;
        this.look = new CoalescedTask(executor, this::run);
    }

    /** A watch event on {@code path}. */
    void changed(XsPath path) {
        if (!base.contains(path) || path.equals(base)) {
            everything();
            return;
        }
        String[] parts = base.relativize(path).split("/", 3); // <domid>/<devid>/rest: the rest is never looked at
        Optional<DomainId> domain = DeviceId.parseDomain(parts[0]);
        if (domain.isEmpty()) {
            // Only dom0 writes here (libxl's permissions); the start's listing of everything warns about such a name.
            LOG.log(System.Logger.Level.DEBUG, "ignoring a watch event below {0}: not a guest domain id", base);
            return;
        }
        if (parts.length >= 2 && DeviceId.parse(parts[0], parts[1]).map(handled::test).orElse(false)) {
            return;
        }
        domain(domain.get());
    }

    /** Lists every backend (soon, on the executor). */
    void everything() {
        all.set(true);
        look.request();
    }

    /** Lists the backends of {@code domain} (soon, on the executor): after a device of it went, one may be there again. */
    void domain(DomainId domain) {
        domains.add(domain);
        look.request();
    }

    private void run() {
        // Taken before the listings: what arrives meanwhile requests another run (CoalescedTask cleared its flag).
        boolean everything = all.getAndSet(false);
        List<DomainId> waiting = new ArrayList<>();
        for (DomainId d : domains) {
            if (domains.remove(d)) {
                waiting.add(d);
            }
        }
        if (everything) {
            listAll.run();
        } else {
            waiting.forEach(listDomain);
        }
    }
}
