package org.vtpmback.hotplug.cli;

import java.util.ListResourceBundle;
import org.vtpmback.hotplug.config.ConfigLoader;

/**
 * Help text that is computed rather than written: picocli reads it through {@code ${bundle:...}} in the
 * annotations, so {@code --help}, the man page and the completion script all take the configuration keys
 * from {@link ConfigLoader}, the one place they are defined.
 */
public final class CliText extends ListResourceBundle {
    static final String NAME = "org.vtpmback.hotplug.cli.CliText";

    @Override
    protected Object[][] getContents() {
        return new Object[][] {
            {"config.keys", String.join(", ", ConfigLoader.keys()) + ", " + ConfigLoader.TPM_FAMILY_PREFIX
                    + "<uuid> (2.0 or 1.2 for one vTPM)"},
        };
    }
}
