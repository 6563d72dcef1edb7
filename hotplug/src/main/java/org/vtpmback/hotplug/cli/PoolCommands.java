package org.vtpmback.hotplug.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code pool push|pull}: moving records between this host's folder and the pool's etcd ({@link PoolMoves}). */
final class PoolCommands {
    private PoolCommands() {
    }

    @Command(name = "pool", header = "move vTPM records from this host into the pool's etcd (push) or back (pull)",
            description = {
                "'pool push [uuid...]' moves records from state-dir into etcd (etcd-endpoints, etcd-prefix and the TLS"
                        + " files of the configuration; store may still be local). 'pool pull [uuid...]' moves them from"
                        + " etcd into state-dir. Without uuids: every record of the source. Per vTPM it refuses one in use"
                        + " (by the daemon here, or owned by a pool host), and one whose destination holds the same or a"
                        + " newer generation (generations only move forward). It writes the destination first and"
                        + " retires the source only then: local files are deleted with their retired mark, etcd records"
                        + " only at the revision read and while no host owns them. The master key must be the pool's.",
                "",
                "One line per vTPM: uuid, moved or REFUSED, and why. With --json, one object {\"direction\": \"push\""
                        + " or \"pull\", \"vtpms\": [{uuid, result (\"moved\" or \"refused\"), generation (number or"
                        + " null), detail (string)}]}. Exit status 1 if any vTPM was not moved."})
    static final class Pool extends ConfiguredCommand {
        @Option(names = ListCommand.JSON, description = "print one JSON object (fields above) instead of lines")
        boolean json;

        @Parameters(index = "0", paramLabel = "push|pull", description = "push: state-dir to etcd; pull: etcd to state-dir")
        String direction;

        @Parameters(index = "1..*", paramLabel = "<uuid>", description = "the vTPMs to move (default: all of the source)")
        List<String> uuids = new ArrayList<>();

        @Override
        public Integer call() {
            List<String> args = new ArrayList<>();
            args.add(direction);
            args.addAll(uuids);
            return execute(PoolMoves::run, args, json ? Map.of(ListCommand.JSON, "") : Map.of());
        }
    }
}
