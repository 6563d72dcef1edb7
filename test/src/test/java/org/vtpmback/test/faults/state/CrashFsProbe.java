package org.vtpmback.test.faults.state;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import org.vtpmback.backend.state.AtomicFiles;

/** What {@link CrashFsTest} runs in a JVM of its own under the shim: {@code CrashFsProbe <scenario> <root>}. */
public final class CrashFsProbe {
    private CrashFsProbe() {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[1]);
        switch (args[0]) {
            case "written-and-renamed" -> {
                Files.writeString(root.resolve("tmp"), "never synced");
                Files.move(root.resolve("tmp"), root.resolve("file"), StandardCopyOption.ATOMIC_MOVE);
            }
            case "synced-not-the-folder" -> {
                try (FileChannel ch = FileChannel.open(root.resolve("tmp"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap("synced".getBytes()));
                    ch.force(true);
                }
                Files.move(root.resolve("tmp"), root.resolve("file"), StandardCopyOption.ATOMIC_MOVE);
            }
            case "atomic" -> AtomicFiles.write(root.resolve("file"), "durable".getBytes(), AtomicFiles.OWNER_ONLY);
            case "overwritten-in-place" -> Files.writeString(root.resolve("file"), "new, never synced");
            case "replaced-atomically" -> AtomicFiles.write(root.resolve("file"), "new".getBytes(), AtomicFiles.OWNER_ONLY);
            case "new-folder" -> AtomicFiles.write(AtomicFiles.createPrivateDirectory(root.resolve("sub/deeper")).resolve("file"),
                    "in a new folder".getBytes(), AtomicFiles.OWNER_ONLY);
            case "deleted" -> AtomicFiles.delete(root.resolve("file"));
            case "local-ca" -> org.vtpmback.backend.manufacture.LocalCa.loadOrCreate(root.resolve("ca"));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }
}
