package org.vtpmback.hotplug.cli;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The class-data sharing archive the launcher ({@code bin/vtpmback}) starts the JVM from, and whether this JVM
 * maps it. The launcher names the archive and the class list it is made from in two system properties, whether or
 * not the archive exists; it passes {@code -XX:SharedArchiveFile=} only for an archive of its own user that nobody
 * else may write. The JVM ({@code -Xshare:auto}) ignores an archive made by another JVM build or for other jars, and
 * then says no "sharing" in {@code java.vm.info}: the start is only slower ({@code vtpmback cds-archive} makes it
 * anew). Stateless.
 */
final class ClassDataSharing {
    static final String ARCHIVE_PROPERTY = "vtpmback.cds.archive";
    static final String CLASS_LIST_PROPERTY = "vtpmback.cds.classlist";
    static final String COMMAND = "vtpmback cds-archive";
    static final String SHARED_ARCHIVE_OPTION = "-XX:SharedArchiveFile=";

    /** How this JVM stands to the launcher's archive. */
    enum State {
        /** Not started by the launcher, or with {@code VTPMBACK_CDS_ARCHIVE=} (empty): nothing to say. */
        NOT_CONFIGURED,
        /** The distribution has no class list (built without one): no archive can be made. */
        NO_CLASS_LIST,
        /** No archive at the launcher's path yet. */
        MISSING,
        /** There, but the launcher did not pass it: another owner, or writable by group or others. */
        UNTRUSTED,
        /** Passed, but the JVM did not map it: made by another JVM build, for other jars or other JVM options. */
        REJECTED,
        /** Mapped: this JVM started from it. */
        IN_USE
    }

    private ClassDataSharing() {
    }

    /** The archive the launcher names, if any. */
    static Optional<Path> archive() {
        return property(ARCHIVE_PROPERTY);
    }

    /** The class list the launcher names, if any. */
    static Optional<Path> classList() {
        return property(CLASS_LIST_PROPERTY);
    }

    private static Optional<Path> property(String name) {
        String v = System.getProperty(name, "");
        return v.isEmpty() ? Optional.empty() : Optional.of(Path.of(v).normalize());
    }

    /** Where this JVM stands; reads its arguments through the management API (tens of ms the first time). */
    static State state() {
        Optional<Path> archive = archive();
        if (archive.isEmpty()) {
            return State.NOT_CONFIGURED;
        }
        if (classList().filter(Files::isRegularFile).isEmpty()) {
            return State.NO_CLASS_LIST;
        }
        if (!Files.isRegularFile(archive.get())) {
            return State.MISSING;
        }
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        boolean passed = args.stream().anyMatch(a -> a.startsWith(SHARED_ARCHIVE_OPTION)
                && Path.of(a.substring(SHARED_ARCHIVE_OPTION.length())).normalize().equals(archive.get()));
        if (!passed) {
            return State.UNTRUSTED;
        }
        // With an archive given, the JVM maps that one or none at all (not its own default archive).
        return System.getProperty("java.vm.info", "").contains("sharing") ? State.IN_USE : State.REJECTED;
    }

    /** One line on {@code state} for an operator: what it costs and what to do; empty when there is nothing to do. */
    static Optional<String> advice(State state) {
        String where = archive().map(Path::toString).orElse("");
        return switch (state) {
            case NOT_CONFIGURED, IN_USE -> Optional.empty();
            case NO_CLASS_LIST -> Optional.of("no class list at " + classList().map(Path::toString).orElse("")
                    + " (this build has none), so no class-data sharing archive: every start loads its classes from the jars");
            case MISSING -> Optional.of("no class-data sharing archive at " + where + ": every start loads and verifies its"
                    + " classes from the jars (about a second longer); run '" + COMMAND + "' as this user to make it");
            case UNTRUSTED -> Optional.of("class-data sharing archive " + where + " not used: it or its folder belongs to"
                    + " another user or is writable by group or others (the JVM would run it as code); remove it and run '"
                    + COMMAND + "'");
            case REJECTED -> Optional.of("class-data sharing archive " + where + " not used by this JVM: it was made by"
                    + " another Java build, for other jars or with other heap or GC options; run '" + COMMAND
                    + "' to make it anew");
        };
    }
}
