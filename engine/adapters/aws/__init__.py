"""AWS clients: the SQS queue of the notifications accelerator (optional extra ``sqs``)."""
