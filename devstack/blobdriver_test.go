package devstack

// Deliver opens buckets by URL; the tests deliver to file:// buckets, and the binary
// (cmd/reelflow) registers the drivers, so the tests register the one they use.
import _ "gocloud.dev/blob/fileblob"
