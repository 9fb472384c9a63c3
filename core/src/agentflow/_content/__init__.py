"""What a request carries besides text: tools, images, and their JSON schemas."""
