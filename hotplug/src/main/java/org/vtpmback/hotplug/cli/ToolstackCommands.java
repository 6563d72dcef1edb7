package org.vtpmback.hotplug.cli;

import org.vtpmback.hotplug.config.VtpmbackConfig;
import org.vtpmback.hotplug.toolstack.DomainResume;
import org.vtpmback.hotplug.toolstack.ProcessXl;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/** {@code vtpmback restore} and {@code vtpmback resume-domain}: stock xl plus the resume signal. */
final class ToolstackCommands {
    /** The xl command, looked up in PATH. */
    static final String XL = "xl";

    private ToolstackCommands() {
    }

    static int restore(Invocation inv, VtpmbackConfig config) {
        return run(inv, config, true);
    }

    static int resumeDomain(Invocation inv, VtpmbackConfig config) {
        return run(inv, config, false);
    }

    private static int run(Invocation inv, VtpmbackConfig config, boolean restore) {
        XenStore store;
        try {
            store = config.xenstoredSocket().map(LibXenStore::connect).orElseGet(LibXenStore::connectDefault);
            store.list(XsPath.ROOT);
        } catch (RuntimeException e) {
            return Main.fail(inv, "cannot connect to xenstored (" + config.xenstoredDescription() + "): " + e.getMessage()
                    + "; nothing was " + (restore ? "restored" : "changed"));
        }
        try (store) {
            DomainResume resume = new DomainResume(new ProcessXl(XL), store, config.backendDomid(), inv.out());
            DomainResume.Outcome outcome = restore ? resume.restore(inv.args()) : resume.resumeDomain(inv.args().get(0));
            if (outcome.status() != 0) {
                return Main.fail(inv, outcome.message());
            }
            return Main.OK;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Main.fail(inv, "interrupted; check the domain with 'xl list' (it may be paused)");
        }
    }
}
