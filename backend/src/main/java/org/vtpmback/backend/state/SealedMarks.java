package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * High-water marks of another kind than generations, kept exactly as the {@link GenerationAnchor} keeps its own:
 * one file sealed with a key derived from the master key for {@code name}, replaced atomically (temp file, fsync,
 * rename, fsync folder) under an exclusive lock, re-read only when it changed. The pool keeps here, per vTPM, the
 * highest etcd revision this host committed ({@code <state-dir>/<name>.anchor}), so that a restarted daemon still
 * refuses a record older than one it wrote (docs/pool.md). A mark only goes up. Thread-safe.
 */
public final class SealedMarks implements AutoCloseable {
    private final GenerationAnchor anchor;

    private SealedMarks(GenerationAnchor anchor) {
        this.anchor = anchor;
    }

    /**
     * The marks {@code name} in {@code dir} (created on the first raise).
     *
     * @param name a file name without '/', also the key's purpose: two sets of marks never open each other
     */
    public static SealedMarks open(Path dir, String name, MasterKey masterKey) throws IOException {
        if (name.isEmpty() || name.contains("/")) {
            throw new IllegalArgumentException("'" + name + "' is not a file name");
        }
        Path folder = AtomicFiles.createPrivateDirectory(dir);
        return new SealedMarks(new GenerationAnchor(folder.resolve(name + ".anchor"), folder.resolve(name + ".lock"),
                masterKey.sealingKey("host", "marks " + name)));
    }

    /** Every uuid's mark, sorted. */
    public Map<Uuid, Long> read() throws IOException {
        Map<Uuid, Long> out = new TreeMap<>();
        anchor.read().forEach((uuid, mark) -> out.put(uuid, mark.generation()));
        return out;
    }

    /** Raises {@code uuid}'s mark to {@code value}, durably when this returns; never lowers it. */
    public void raise(Uuid uuid, long value) throws IOException {
        anchor.update(marks -> {
            GenerationAnchor.Mark m = marks.get(uuid);
            if (m == null || m.generation() < value) {
                marks.put(uuid, new GenerationAnchor.Mark(value, false));
            }
            return null;
        });
    }

    /** The file, for messages. */
    public Path file() {
        return anchor.file();
    }

    /** Wipes the key; the marks are unusable afterwards. */
    @Override
    public void close() {
        anchor.close();
    }
}
