package main

// The bucket schemes Deliver opens: file://, s3://, gs://, azblob://. They are
// registered here, in the binary, and not in package activities, so that a package that
// only imports activities' names (the receiver, through workflows) does not link the
// three cloud SDKs. None of the drivers moves a module the project pins.
import (
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)
