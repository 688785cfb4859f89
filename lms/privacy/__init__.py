"""Personal data: requests for access and erasure, erasing a person, and the retention sweep."""
