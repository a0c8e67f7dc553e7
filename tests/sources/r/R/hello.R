hello <- function() {
  "hello from the demo R package"
}
